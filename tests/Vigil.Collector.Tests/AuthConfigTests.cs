using System.Net;
using Vigil.Collector.Configuration;
using Vigil.Collector.Security;

namespace Vigil.Collector.Tests;

/// <summary>The <c>auth</c> section: entries inline or in a file, every problem with file:line:col, never a key's text in a message.</summary>
public sealed class AuthConfigTests : IDisposable
{
    private static readonly string HashOfA = ApiKeys.HashHex("key-a");
    private readonly string _directory = VigilServer.NewDataDir();

    public AuthConfigTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Write(string name, string yaml)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, yaml);
        return path;
    }

    private IReadOnlyList<string> Problems(string yaml) =>
        Assert.Throws<ConfigException>(() => ConfigLoader.Load(Write("vigil.yaml", yaml), [])).Problems;

    [Fact]
    public void InlineAndFileEntries_AreBothLoaded_HashesLowercased()
    {
        Write("keys.yaml", $"- {{tenant: b, key_sha256: {ApiKeys.HashHex("key-b").ToUpperInvariant()}, admin: true}}\n");
        var options = ConfigLoader.Load(Write("vigil.yaml", $$"""
            auth:
              ingest_keys:
                - tenant: a
                  key_sha256: {{HashOfA}}
              ingest_keys_file: keys.yaml
              read_keys:
                - {tenant: a, key_sha256: {{ApiKeys.HashHex("read-a")}}}
            """), []);

        Assert.Equal(["a", "b"], options.Auth.IngestKeys.Select(k => k.Tenant));
        Assert.Equal([false, true], options.Auth.IngestKeys.Select(k => k.Admin));
        Assert.Equal(ApiKeys.HashHex("key-b"), options.Auth.IngestKeys[1].KeySha256);
        Assert.Equal("a", new ApiKeys(options.Auth.IngestKeys).Find("key-a")?.Tenant);
        Assert.Equal("b", new ApiKeys(options.Auth.IngestKeys).Find("key-b")?.Tenant);
        Assert.Null(new ApiKeys(options.Auth.IngestKeys).Find("read-a"));
        Assert.Equal("a", new ApiKeys(options.Auth.ReadKeys).Find("read-a")?.Tenant);
    }

    [Fact]
    public void NoAuthSection_LeavesBothSidesOpen()
    {
        var options = ConfigLoader.Load(null, []);
        Assert.Empty(options.Auth.IngestKeys);
        Assert.Empty(options.Auth.ReadKeys);
    }

    [Fact]
    public void AKeyPastedInsteadOfItsHash_IsRefusedWithLineAndColumn_WithoutRepeatingIt()
    {
        var problem = Assert.Single(Problems("""
            auth:
              ingest_keys:
                - {tenant: a, key_sha256: vigil_secret-key-text-pasted-by-mistake}
            """));

        Assert.StartsWith(Path.Combine(_directory, "vigil.yaml") + ":3:7: auth.ingest_keys[0]: key_sha256: not a SHA-256 digest", problem);
        Assert.DoesNotContain("secret-key-text", problem);
    }

    [Fact]
    public void EveryProblem_IsReported_WithItsPlace()
    {
        var problems = Problems($$"""
            auth:
              ingest_key:
                - {tenant: a, key_sha256: {{HashOfA}}}
              read_keys:
                - {key_sha256: {{HashOfA}}}
                - {tenant: a, key_sha256: {{HashOfA}}, admin: true}
                - {tenant: a, key_sha265: {{HashOfA}}}
              ingest_keys_file: missing.yaml
            """);

        Assert.Contains(problems, p => p.Contains(":2:3: unknown setting 'auth.ingest_key' (did you mean 'ingest_keys'?)"));
        Assert.Contains(problems, p => p.Contains(":5:7: auth.read_keys[0]: tenant: missing"));
        Assert.Contains(problems, p => p.Contains(":6:7: auth.read_keys[1]: admin: read keys are bound to one tenant"));
        Assert.Contains(problems, p => p.Contains(":7:19: unknown setting 'auth.read_keys[2].key_sha265' (did you mean 'key_sha256'?)"));
        Assert.Contains(problems, p => p.Contains(":8:21: auth.ingest_keys_file: 'missing.yaml' not found"));
    }

    [Fact]
    public void KeysFileProblems_NameTheKeysFile()
    {
        Write("keys.yaml", "- {tenant: a}\n");
        var problem = Assert.Single(Problems("auth:\n  ingest_keys_file: keys.yaml\n"));
        Assert.StartsWith(Path.Combine(_directory, "keys.yaml") + ":1:3: auth.ingest_keys_file[0]: key_sha256: missing", problem);
    }

    [Fact]
    public void TheSameKeyTwice_IsRefused()
    {
        var problem = Assert.Single(Problems($$"""
            auth:
              ingest_keys:
                - {tenant: a, key_sha256: {{HashOfA}}}
                - {tenant: b, key_sha256: {{HashOfA.ToUpperInvariant()}}}
            """));
        // Entries may come from a keys file too, so the place is the list's, not an entry's.
        Assert.Equal($"{Path.Combine(_directory, "vigil.yaml")}:2:3: auth.ingest_keys[1]: the same key_sha256 is listed twice; one key belongs to one tenant", problem);
    }

    [Fact]
    public void StartupWarnings_NameEachOpenDoor_OnlyOffLoopback()
    {
        var loopback = new IPEndPoint(IPAddress.Loopback, 1);
        var local = new VigilOptions { OtlpGrpc = loopback, OtlpHttp = loopback, Http = loopback };
        Assert.Empty(StartupWarnings.For(local));

        var open = StartupWarnings.For(new VigilOptions());
        Assert.Equal(3, open.Count);
        Assert.Contains(open, w => w.StartsWith("OTLP on 0.0.0.0:4317, 0.0.0.0:4318 accepts points for any tenant", StringComparison.Ordinal));
        Assert.Contains(open, w => w.Contains("auth.read_keys is empty", StringComparison.Ordinal));
        Assert.Contains(open, w => w.Contains("server.admin_token is not set", StringComparison.Ordinal));

        var secured = new VigilOptions
        {
            AdminToken = TestKeys.AdminToken,
            Auth = new AuthOptions { IngestKeys = [TestKeys.Key("a", "k1")], ReadKeys = [TestKeys.Key("a", "k2")] },
        };
        var clearText = Assert.Single(StartupWarnings.For(secured));
        Assert.StartsWith("keys and the admin token cross the network in clear text on 0.0.0.0:4317, 0.0.0.0:4318, 0.0.0.0:9190: server.tls is not set", clearText, StringComparison.Ordinal);
        Assert.Empty(StartupWarnings.For(secured with { Tls = new TlsOptions { CertFile = "tls.crt", KeyFile = "tls.key" } }));
    }
}
