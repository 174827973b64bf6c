using System.Net;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using Google.Protobuf;
using Vigil.Collector.Configuration;
using Vigil.Collector.Security;

namespace Vigil.Collector.Tests;

/// <summary><c>vigil keys add</c>: the key it prints authenticates once its line is pasted into vigil.yaml.</summary>
public sealed partial class KeysCommandTests
{
    [GeneratedRegex(@"^  (vigil_[A-Za-z0-9_-]+)$", RegexOptions.Multiline)]
    private static partial Regex KeyLine();

    [GeneratedRegex(@"^  (- \{.*\})$", RegexOptions.Multiline)]
    private static partial Regex YamlLine();

    private static (int Exit, string Output, string Error) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = KeysCommand.Run(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }

    private static string WriteConfig(string yaml)
    {
        var directory = VigilServer.NewDataDir();
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, "vigil.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    [Fact]
    public async Task AddedKey_PastedUnderIngestKeys_Authenticates_ForItsTenant()
    {
        var (exit, output, _) = Run("add", "--tenant", "acme");
        Assert.Equal(0, exit);
        var key = KeyLine().Match(output).Groups[1].Value;
        var line = YamlLine().Match(output).Groups[1].Value;
        Assert.DoesNotContain(key, line);

        var config = WriteConfig($"auth:\n  ingest_keys:\n    {line}\n");
        try
        {
            var options = ConfigLoader.Load(config, []);
            var entry = new ApiKeys(options.Auth.IngestKeys).Find(key);
            Assert.NotNull(entry);
            Assert.Equal("acme", entry.Tenant);
            Assert.False(entry.Admin);

            await using var vigil = await VigilServer.StartAsync(o => o with { Auth = options.Auth });
            using var http = new HttpClient { BaseAddress = vigil.OtlpHttpUri };
            foreach (var presented in new[] { key, key[..^1] })
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/metrics") { Content = new ByteArrayContent(OtlpRequests.DeltaCounter("keyed.requests", 1, tenant: "acme").ToByteArray()) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", presented);
                using var response = await http.SendAsync(request);
                Assert.Equal(presented == key ? HttpStatusCode.OK : HttpStatusCode.Unauthorized, response.StatusCode);
            }

            Assert.Equal("acme", Assert.Single(vigil.Store.ListSeries("keyed.requests")).Labels["tenant.id"]);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(config)!, recursive: true);
        }
    }

    [Fact]
    public void AdminAndReadKeys_PasteAsAdminAndReadEntries_IntoAKeysFile()
    {
        var (_, admin, _) = Run("add", "--tenant", "gateway", "--admin");
        var (_, read, _) = Run("add", "--tenant", "team \"x\"", "--read");
        Assert.Contains("under auth.ingest_keys", admin);
        Assert.Contains("under auth.read_keys", read);
        var config = WriteConfig("auth:\n  ingest_keys_file: ingest-keys.yaml\n  read_keys_file: read-keys.yaml\n");
        var directory = Path.GetDirectoryName(config)!;
        File.WriteAllText(Path.Combine(directory, "ingest-keys.yaml"), YamlLine().Match(admin).Groups[1].Value + "\n");
        File.WriteAllText(Path.Combine(directory, "read-keys.yaml"), YamlLine().Match(read).Groups[1].Value + "\n");
        try
        {
            var options = ConfigLoader.Load(config, []);
            var adminEntry = new ApiKeys(options.Auth.IngestKeys).Find(KeyLine().Match(admin).Groups[1].Value);
            var readEntry = new ApiKeys(options.Auth.ReadKeys).Find(KeyLine().Match(read).Groups[1].Value);
            Assert.Equal(("gateway", true), (adminEntry?.Tenant, adminEntry?.Admin ?? false));
            Assert.Equal("team \"x\"", readEntry?.Tenant);
            Assert.Null(new ApiKeys(options.Auth.IngestKeys).Find(KeyLine().Match(read).Groups[1].Value));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void Key_Is32RandomBytes_UrlSafeBase64_AfterThePrefix()
    {
        var bytes = Enumerable.Range(0, KeysCommand.RandomBytes).Select(i => (byte)(250 - i)).ToArray();
        var expected = KeysCommand.Prefix + Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

        var key = KeysCommand.NewKey(buffer => bytes.CopyTo(buffer));

        Assert.Equal(expected, key);
        Assert.Equal(KeysCommand.Prefix.Length + 43, key.Length);
        Assert.Matches("^vigil_[A-Za-z0-9_-]+$", key);
        Assert.NotEqual(KeysCommand.NewKey(System.Security.Cryptography.RandomNumberGenerator.Fill), KeysCommand.NewKey(System.Security.Cryptography.RandomNumberGenerator.Fill));
    }

    [Theory]
    [InlineData(new[] { "add" }, "tenant: missing")]
    [InlineData(new[] { "add", "--tenant", "acme", "--read", "--admin" }, "read keys are bound to one tenant")]
    [InlineData(new[] { "add", "--tenant", "acme", "--bogus" }, "unknown argument '--bogus'")]
    [InlineData(new[] { "remove" }, "usage: vigil keys add")]
    public void BadArguments_AreUsageErrors(string[] args, string expected)
    {
        var (exit, output, error) = Run(args);
        Assert.Equal(2, exit);
        Assert.Empty(output);
        Assert.Contains(expected, error);
    }
}
