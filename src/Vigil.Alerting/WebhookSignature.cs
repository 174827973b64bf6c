using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Vigil.Alerting;

/// <summary>
/// The webhook signature: <c>X-Vigil-Timestamp: &lt;unix seconds&gt;</c> and
/// <c>X-Vigil-Signature: sha256=&lt;hex HMAC-SHA256(secret, timestamp + "." + body)&gt;</c>. Signing the timestamp
/// with the body lets a receiver refuse replays: <see cref="Verify(string, string?, ReadOnlySpan{byte}, string?, DateTimeOffset, TimeSpan?)"/>
/// rejects a timestamp further than the tolerance (default 5 minutes) from its clock, in either direction.
/// </summary>
public static class WebhookSignature
{
    public const string TimestampHeader = "X-Vigil-Timestamp";
    public const string SignatureHeader = "X-Vigil-Signature";
    public const string Scheme = "sha256=";

    public static TimeSpan DefaultTolerance { get; } = TimeSpan.FromMinutes(5);

    /// <summary>The <c>X-Vigil-Signature</c> value for <paramref name="body"/> sent at <paramref name="timestamp"/> (unix seconds).</summary>
    public static string Compute(string secret, long timestamp, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.UTF8.GetBytes(timestamp.ToString(CultureInfo.InvariantCulture) + ".");
        var message = new byte[prefix.Length + body.Length];
        prefix.CopyTo(message, 0);
        body.CopyTo(message.AsSpan(prefix.Length));
        return Scheme + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), message));
    }

    /// <summary>
    /// True when <paramref name="signature"/> is the signature of <paramref name="body"/> at <paramref name="timestamp"/>
    /// under <paramref name="secret"/> and the timestamp is within <paramref name="tolerance"/> of <paramref name="now"/>.
    /// Compares in constant time.
    /// </summary>
    public static bool Verify(string secret, string? timestamp, ReadOnlySpan<byte> body, string? signature, DateTimeOffset now, TimeSpan? tolerance = null)
    {
        if (string.IsNullOrEmpty(secret) || signature is null
            || !long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            return false;
        }

        if (Math.Abs(now.ToUnixTimeSeconds() - seconds) > (tolerance ?? DefaultTolerance).TotalSeconds)
        {
            return false;
        }

        var expected = Encoding.ASCII.GetBytes(Compute(secret, seconds, body));
        var actual = Encoding.ASCII.GetBytes(signature.Trim());
        return CryptographicOperations.FixedTimeEquals(expected, actual);
    }

    public static bool Verify(string secret, string? timestamp, string body, string? signature, DateTimeOffset now, TimeSpan? tolerance = null) =>
        Verify(secret, timestamp, Encoding.UTF8.GetBytes(body), signature, now, tolerance);
}
