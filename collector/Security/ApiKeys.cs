using System.Security.Cryptography;
using System.Text;
using Vigil.Collector.Configuration;
using Vigil.Storage;

namespace Vigil.Collector.Security;

/// <summary>
/// A set of configured keys, each known only by its SHA-256. A presented key is hashed and compared
/// with every configured hash by <see cref="CryptographicOperations.FixedTimeEquals"/>, without
/// stopping at a match, so the answer's timing says nothing about which entry (or how much of one)
/// matched. (A dictionary keyed by the hash would be safe as well: a guess's hash is unpredictable,
/// so timing leaks nothing useful. The scan is chosen because it needs no argument: key lists are
/// short, and a scan of 100 hashes costs less than hashing the key.) See docs/decisions/010.
/// </summary>
public sealed class ApiKeys
{
    private readonly Entry[] _entries;

    public ApiKeys(IEnumerable<ApiKeyOptions> keys) =>
        _entries = [.. keys.Select(k => new Entry(k.Tenant, k.Admin, Convert.FromHexString(k.KeySha256), new TenantBinding(k.Tenant, k.Admin)))];

    public bool IsEmpty => _entries.Length == 0;

    /// <summary>The entry whose hash is the presented key's, or null (also for no key).</summary>
    public Entry? Find(string? presented)
    {
        if (string.IsNullOrEmpty(presented) || _entries.Length == 0)
        {
            return null;
        }

        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        Sha256(presented, hash);
        Entry? found = null;
        foreach (var entry in _entries)
        {
            if (CryptographicOperations.FixedTimeEquals(hash, entry.Hash))
            {
                found = entry;
            }
        }

        return found;
    }

    /// <summary>
    /// The key a request presents: <c>Authorization: Bearer KEY</c> (scheme case-insensitive, as RFC 6750
    /// has it) or <c>api-key: KEY</c>. HTTP/2 metadata of gRPC calls arrives as the same headers.
    /// </summary>
    public static string? Presented(IHeaderDictionary headers)
    {
        var authorization = headers.Authorization.ToString();
        if (authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return authorization[7..].Trim() is { Length: > 0 } bearer ? bearer : null;
        }

        return headers["api-key"].ToString().Trim() is { Length: > 0 } apiKey ? apiKey : null;
    }

    /// <summary>What <c>key_sha256</c> holds for a key: its SHA-256 as lowercase hex.</summary>
    public static string HashHex(string key)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        Sha256(key, hash);
        return Convert.ToHexStringLower(hash);
    }

    private static void Sha256(string key, Span<byte> hash)
    {
        var bytes = Encoding.UTF8.GetBytes(key);
        try
        {
            SHA256.HashData(bytes, hash);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
        }
    }

    /// <summary>One configured key; <see cref="Binding"/> is built once so a request carries it for free.</summary>
    public sealed record Entry(string Tenant, bool Admin, byte[] Hash, TenantBinding Binding);
}
