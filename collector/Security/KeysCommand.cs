using System.Security.Cryptography;
using System.Text;
using Vigil.Collector.Configuration;

namespace Vigil.Collector.Security;

/// <summary>
/// <c>vigil keys add --tenant NAME [--admin | --read]</c>: makes a random key, prints it once and the
/// line to paste into vigil.yaml (only the key's SHA-256 goes into the config). Exit 0 ok, 2 usage.
/// </summary>
public static class KeysCommand
{
    /// <summary>Every key starts with this, so a secret scanner (and a person) recognises a leaked one.</summary>
    public const string Prefix = "vigil_";

    /// <summary>Bytes of randomness in a key: 256 bits, written as 43 url-safe base64 characters.</summary>
    public const int RandomBytes = 32;

    private const string Usage = """
        usage: vigil keys add --tenant NAME [--admin]   (an ingest key: the client may write tenant NAME; --admin: any tenant)
               vigil keys add --tenant NAME --read      (a read key: the query API answers tenant NAME only)
        """;

    /// <param name="random">Fills a buffer with random bytes; <see cref="RandomNumberGenerator.Fill"/> unless a test passes its own.</param>
    public static int Run(string[] args, TextWriter output, TextWriter error, RandomFill? random = null)
    {
        if (args.Length == 0 || args[0] != "add")
        {
            return Fail(error, null);
        }

        string? tenant = null;
        bool admin = false, read = false;
        for (var i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--tenant" when i + 1 < args.Length:
                    tenant = args[++i];
                    break;
                case "--admin":
                    admin = true;
                    break;
                case "--read":
                    read = true;
                    break;
                default:
                    return Fail(error, $"vigil keys: unknown argument '{args[i]}'");
            }
        }

        // The same rules as the config applies to what gets pasted (the placeholder hash is well-formed).
        if (ApiKeyOptions.Problem(tenant, new string('0', 64), admin, read) is { } problem)
        {
            return Fail(error, $"vigil keys add: {problem}");
        }

        var key = NewKey(random ?? RandomNumberGenerator.Fill);
        var section = read ? "auth.read_keys" : "auth.ingest_keys";
        var kind = read ? "read key" : admin ? "admin ingest key (may write any tenant)" : "ingest key";
        output.WriteLine($"New {kind} for tenant {Quote(tenant!)}. It is shown only now; Vigil keeps only its SHA-256:");
        output.WriteLine();
        output.WriteLine("  " + key);
        output.WriteLine();
        output.WriteLine(read
            ? $"Readers send 'Authorization: Bearer KEY' (or 'api-key: KEY'), optionally with 'X-Scope-OrgID: {tenant}'."
            : "Clients send 'Authorization: Bearer KEY' or 'api-key: KEY' (OTLP exporter headers; gRPC metadata).");
        output.WriteLine($"Paste this line under {section} in vigil.yaml (or into {section}_file), then restart Vigil:");
        output.WriteLine();
        output.WriteLine("  " + YamlLine(tenant!, ApiKeys.HashHex(key), admin));
        return 0;
    }

    /// <summary>A key: <see cref="Prefix"/> and <see cref="RandomBytes"/> random bytes in url-safe base64 without padding.</summary>
    public static string NewKey(RandomFill random)
    {
        Span<byte> bytes = stackalloc byte[RandomBytes];
        random(bytes);
        var key = Prefix + Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        CryptographicOperations.ZeroMemory(bytes);
        return key;
    }

    /// <summary>One list entry in YAML flow style, the same in vigil.yaml and in a keys file.</summary>
    public static string YamlLine(string tenant, string keySha256, bool admin) =>
        $"- {{tenant: {Quote(tenant)}, key_sha256: {keySha256}{(admin ? ", admin: true" : string.Empty)}}}";

    private static string Quote(string text)
    {
        var builder = new StringBuilder(text.Length + 2).Append('"');
        foreach (var c in text)
        {
            builder.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                _ => c.ToString(),
            });
        }

        return builder.Append('"').ToString();
    }

    private static int Fail(TextWriter error, string? message)
    {
        if (message is not null)
        {
            error.WriteLine(message);
        }

        error.WriteLine(Usage);
        return 2;
    }
}

/// <summary>Fills <paramref name="buffer"/> with random bytes.</summary>
public delegate void RandomFill(Span<byte> buffer);
