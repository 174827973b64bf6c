using System.Collections;
using System.Net;
using System.Text.RegularExpressions;
using Vigil.Collector.Configuration;
using YamlDotNet.RepresentationModel;

namespace Vigil.Collector.Tests;

/// <summary>
/// What vigil.yaml says is what Vigil does: ${VAR} is expanded, every problem is reported at once
/// with its file:line:column, numbers that do not fit are refused rather than wrapped, the shipped
/// vigil.yaml is the defaults, and short secrets or non-HTTP URLs stop the start.
/// </summary>
public sealed partial class ConfigHonestyTests : IDisposable
{
    private static readonly Func<string, string?> NoEnvironment = _ => null;
    private static readonly string ShippedConfig = Path.Combine(AppContext.BaseDirectory, "vigil.yaml");
    private static readonly string[] Hostile = ["99999999999999999999", "-1", "1e400", "9999999999d", "9999999d"];

    private readonly string _directory = VigilServer.NewDataDir() + "-config";

    public ConfigHonestyTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Write(string yaml, string name = "vigil.yaml")
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, yaml);
        return path;
    }

    private IReadOnlyList<string> Problems(string yaml, Func<string, string?>? environment = null) =>
        Assert.Throws<ConfigException>(() => ConfigLoader.Load(Write(yaml), [], environment ?? NoEnvironment)).Problems;

    /// <summary>"file:line:column" of the first <paramref name="token"/> on a line of <paramref name="yaml"/> (1-based, as YAML errors count).</summary>
    private string At(string yaml, int line, string token)
    {
        var column = yaml.Split('\n')[line - 1].IndexOf(token, StringComparison.Ordinal);
        Assert.True(column >= 0, $"'{token}' is not on line {line}");
        return $"{Path.Combine(_directory, "vigil.yaml")}:{line}:{column + 1}";
    }

    [Fact]
    public void EnvironmentReferences_AreExpanded_InEveryForm()
    {
        var environment = new Dictionary<string, string>
        {
            ["VIGIL_T_RESOLUTION"] = "5s",
            ["VIGIL_T_PAGER_SECRET"] = "pager-secret-of-24-chars",
            ["VIGIL_T_EMPTY"] = string.Empty,
        };
        var options = ConfigLoader.Load(Write("""
            data_dir: /tmp/$${not-a-reference}/$HOME
            storage:
              resolution: ${VIGIL_T_RESOLUTION}
              retention: ${env:VIGIL_T_UNSET:-30m}
              tenant_attribute: ${VIGIL_T_EMPTY:-org.id}
            alerting:
              webhooks:
                - name: pager
                  url: https://pager.example/${env:VIGIL_T_PATH:-hooks}/vigil
                  secret: ${env:VIGIL_T_PAGER_SECRET}
              otlp_logs:
                - endpoint: http://127.0.0.1:4318
                  headers: {x-note: "costs $$5, ${VIGIL_T_EMPTY}done"}
            """), [], name => environment.GetValueOrDefault(name));

        Assert.Equal("/tmp/${not-a-reference}/$HOME", options.DataDir);
        Assert.Equal(TimeSpan.FromSeconds(5), options.Storage.Resolution);
        Assert.Equal(TimeSpan.FromMinutes(30), options.Storage.Retention);
        Assert.Equal("org.id", options.Storage.TenantAttribute);
        Assert.Equal("https://pager.example/hooks/vigil", options.Alerting.Webhooks[0].Url);
        Assert.Equal(environment["VIGIL_T_PAGER_SECRET"], options.Alerting.Webhooks[0].Secret);
        Assert.Equal("costs $5, done", options.Alerting.OtlpLogs[0].Headers["x-note"]);
    }

    [Fact]
    public void EnvironmentReferences_ReachKeysFilesToo()
    {
        var hash = Vigil.Collector.Security.ApiKeys.HashHex("key-of-acme");
        Write("- {tenant: \"${VIGIL_T_TENANT}\", key_sha256: \"${VIGIL_T_HASH}\"}\n", "keys.yaml");
        var options = ConfigLoader.Load(Write("auth:\n  ingest_keys_file: keys.yaml\n"), [], name => name switch
        {
            "VIGIL_T_TENANT" => "acme",
            "VIGIL_T_HASH" => hash,
            _ => null,
        });
        var key = Assert.Single(options.Auth.IngestKeys);
        Assert.Equal(("acme", hash), (key.Tenant, key.KeySha256));
    }

    [Fact]
    public void UnsetOrMalformedReferences_AreErrorsAtTheirPlace_NeverTheLiteralText()
    {
        var yaml = """
            server:
              admin_token: ${VIGIL_T_NO}
            storage:
              retention: ${VIGIL_T_UNSET_RETENTION}
            alerting:
              webhooks:
                - name: pager
                  url: https://pager.example/hook
                  secret: "${vault:pager/secret}"
              otlp_logs:
                - endpoint: http://127.0.0.1:4318
                  headers:
                    x-api-token: "${VIGIL_T_UNCLOSED"
                    x-other: ${1NOT_A_NAME}
            """;
        var problems = Problems(yaml);

        // One problem per reference, and none that follows from it: the literal text is not judged as a
        // token, a duration or a secret, and a secret left unset by its reference is not "required" again.
        Assert.Equal(
            [
                $"{At(yaml, 2, "${")}: server.admin_token: environment variable VIGIL_T_NO is not set; set it, or give a default: ${{VIGIL_T_NO:-value}}",
                $"{At(yaml, 4, "${")}: storage.retention: environment variable VIGIL_T_UNSET_RETENTION is not set; set it, or give a default: ${{VIGIL_T_UNSET_RETENTION:-value}}",
                $"{At(yaml, 9, "\"")}: alerting.webhooks[0].secret: ${{vault:…}}: only the env: provider is supported; write ${{env:VAR}} or ${{VAR}}",
                $"{At(yaml, 13, "\"")}: alerting.otlp_logs[0].headers.x-api-token: '${{' is not closed by '}}'; write ${{VAR}}, ${{VAR:-default}}, or $$ for a literal $",
                $"{At(yaml, 14, "${")}: alerting.otlp_logs[0].headers.x-other: a ${{…}} here is not a variable reference; write ${{VAR}}, ${{env:VAR}} or ${{VAR:-default}} (names: letters, digits, _), or $$ for a literal $",
            ],
            problems);
    }

    [Fact]
    public void AnUnknownKey_DoesNotHideTheOtherProblems()
    {
        var yaml = """
            server:
              admin_tokn: the-token-of-an-operator
            storage:
              retention: 8d
            alerting:
              webhooks:
                - {name: pager, url: ftp://pager.example/hook, secret: short}
            """;
        var problems = Problems(yaml);

        Assert.Equal(
            [
                $"{At(yaml, 2, "admin_tokn")}: unknown setting 'server.admin_tokn' (did you mean 'admin_token'?)",
                $"{At(yaml, 4, "8d")}: storage.retention: at most 7d is supported in memory (got 8.00:00:00); use remote write for long-term storage",
                $"{At(yaml, 7, "ftp:")}: alerting.webhooks[0].url: 'ftp://pager.example/hook' is not an absolute http(s) URL",
                $"{At(yaml, 7, "short")}: alerting.webhooks[0].secret: required, at least 16 characters (got 5); receivers verify X-Vigil-Signature with it",
            ],
            problems);
    }

    [Fact]
    public void ShortSecretsAndNonHttpUrls_AreRefusedAtTheirPlace_WithoutQuotingTheSecret()
    {
        var yaml = """
            server:
              admin_token: tiny-token
            telemetry:
              otlp_endpoint: unix:///var/run/otel.sock
            alerting:
              external_url: mailto:sre@example.com
              alertmanagers:
                - url: file:///etc/alertmanager
              webhooks:
                - name: pager
                  url: gopher://pager.example/hook
                  secret: sixteen-minus-1
              otlp_logs:
                - endpoint: ftp://collector.example:4318
                  headers:
                    authorization: Bearer abc123
                    x-api-key: k-9
                    x-request-source: vigil
            remote_write:
              - url: ftp://victoria:8428/api/v1/write
                bearer_token: rw-token
                headers: {X-Api-Key: short-key}
            """;
        var problems = Problems(yaml);

        Assert.Equal(
            [
                $"{At(yaml, 4, "unix:")}: telemetry.otlp_endpoint: 'unix:///var/run/otel.sock' is not an absolute http(s) URL (e.g. http://127.0.0.1:4317)",
                $"{At(yaml, 6, "mailto:")}: alerting.external_url: 'mailto:sre@example.com' is not an absolute http(s) URL; set the URL users reach Vigil's API at, e.g. https://vigil.example.com",
                $"{At(yaml, 8, "file:")}: alerting.alertmanagers[0].url: 'file:///etc/alertmanager' is not an absolute http(s) URL (e.g. http://alertmanager:9093)",
                $"{At(yaml, 11, "gopher:")}: alerting.webhooks[0].url: 'gopher://pager.example/hook' is not an absolute http(s) URL",
                $"{At(yaml, 12, "sixteen")}: alerting.webhooks[0].secret: required, at least 16 characters (got 15); receivers verify X-Vigil-Signature with it",
                $"{At(yaml, 14, "ftp:")}: alerting.otlp_logs[0].endpoint: 'ftp://collector.example:4318' is not an absolute http(s) URL (e.g. http://127.0.0.1:4317)",
                $"{At(yaml, 20, "ftp:")}: remote_write[0].url: 'ftp://victoria:8428/api/v1/write' is not an absolute http(s) URL (e.g. http://127.0.0.1:8428/api/v1/write)",
                $"{At(yaml, 2, "tiny")}: server.admin_token: use at least 16 characters (or VIGIL_ADMIN_TOKEN); a short token is guessable",

                // Anything else named like a credential, by one rule, once.
                $"{At(yaml, 16, "Bearer")}: alerting.otlp_logs[0].headers.authorization: a credential needs at least 16 characters (got 6); a short one is guessable",
                $"{At(yaml, 17, "k-9")}: alerting.otlp_logs[0].headers.x-api-key: a credential needs at least 16 characters (got 3); a short one is guessable",
                $"{At(yaml, 21, "rw-token")}: remote_write[0].bearer_token: a credential needs at least 16 characters (got 8); a short one is guessable",
                $"{At(yaml, 22, "short-key")}: remote_write[0].headers.X-Api-Key: a credential needs at least 16 characters (got 9); a short one is guessable",
            ],
            problems);
        foreach (var secret in new[] { "tiny-token", "sixteen-minus-1", "abc123", "k-9", "rw-token", "short-key" })
        {
            Assert.DoesNotContain(problems, p => p.Contains(secret, StringComparison.Ordinal));
        }

        // The environment's admin token is judged by the same rule, and named as the place.
        var fromEnvironment = Assert.Single(Assert.Throws<ConfigException>(() => ConfigLoader.Load(null, [], name => name == "VIGIL_ADMIN_TOKEN" ? "short" : null)).Problems);
        Assert.StartsWith("VIGIL_ADMIN_TOKEN: server.admin_token: use at least 16 characters", fromEnvironment, StringComparison.Ordinal);
    }

    /// <summary>
    /// collector/vigil.yaml, with one entry in each receiver list so their settings are in it too; its
    /// numeric, size and duration settings are what <see cref="NumericSettings"/> enumerates.
    /// </summary>
    private static string[] NumericDocument()
    {
        var lines = new List<string>();
        foreach (var line in File.ReadAllLines(ShippedConfig))
        {
            lines.Add(line switch
            {
                _ when line.StartsWith("  alertmanagers: []", StringComparison.Ordinal) => "  alertmanagers:\n    - url: http://127.0.0.1:9093\n      timeout: 10s",
                _ when line.StartsWith("  webhooks: []", StringComparison.Ordinal) => "  webhooks:\n    - name: pager\n      url: https://pager.example/hook\n      secret: a-secret-of-24-characters\n      timeout: 10s",
                _ when line.StartsWith("  otlp_logs: []", StringComparison.Ordinal) => "  otlp_logs:\n    - endpoint: http://127.0.0.1:4318\n      timeout: 10s",
                _ when line.StartsWith("remote_write: []", StringComparison.Ordinal) => "remote_write:\n  - url: http://127.0.0.1:8428/api/v1/write\n    timeout: 30s\n    series_delay: 10s\n    queue:\n      max_samples_per_send: 2000\n      batch_send_deadline: 5s\n      min_backoff: 30ms\n      max_backoff: 5s\n      max_age: 1h\n      shards: 1",
                _ => line,
            });
        }

        return string.Join('\n', lines).Split('\n');
    }

    /// <summary>Every setting of <see cref="NumericDocument"/> written as a number, a size or a duration, with where its value is.</summary>
    private static List<(string Setting, int Line, int Column, int Length)> NumericLeaves()
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(string.Join('\n', NumericDocument())));
        var leaves = new List<(string, int, int, int)>();
        void Walk(YamlNode node, string path)
        {
            switch (node)
            {
                case YamlMappingNode mapping:
                    foreach (var (key, value) in mapping.Children)
                    {
                        Walk(value, path.Length == 0 ? ((YamlScalarNode)key).Value! : $"{path}.{((YamlScalarNode)key).Value}");
                    }

                    break;
                case YamlSequenceNode sequence:
                    for (var i = 0; i < sequence.Children.Count; i++)
                    {
                        Walk(sequence.Children[i], $"{path}[{i}]");
                    }

                    break;
                case YamlScalarNode { Value: { } text } scalar when NumberLike().IsMatch(text):
                    leaves.Add((path, (int)scalar.Start.Line, (int)scalar.Start.Column, text.Length));
                    break;
            }
        }

        Walk(stream.Documents[0].RootNode, string.Empty);
        return leaves;
    }

    public static TheoryData<string, string> NumericSettings()
    {
        var data = new TheoryData<string, string>();
        foreach (var (setting, _, _, _) in NumericLeaves())
        {
            foreach (var value in Hostile)
            {
                data.Add(setting, value);
            }
        }

        return data;
    }

    [Fact]
    public void TheNumericDocument_LoadsAndCoversEverySection()
    {
        var options = ConfigLoader.Load(Write(string.Join('\n', NumericDocument())), [], NoEnvironment);
        Assert.Equal((1, 1, 1, 1), (options.Alerting.Alertmanagers.Count, options.Alerting.Webhooks.Count, options.Alerting.OtlpLogs.Count, options.RemoteWrite.Count));
        var sections = NumericLeaves().Select(l => l.Setting.Split('.', '[')[0]).ToHashSet();
        Assert.Superset(new HashSet<string> { "storage", "ingest", "wal", "telemetry", "rules", "alerting", "remote_write" }, sections);
        Assert.Contains(NumericLeaves(), l => l.Setting == "remote_write[0].queue.max_age");
        Assert.Contains(NumericLeaves(), l => l.Setting == "alerting.webhooks[0].timeout");
    }

    [Theory]
    [MemberData(nameof(NumericSettings))]
    public void AValueOutOfRange_IsAnErrorAtItsPlace_NotAWrapAroundOrACrash(string setting, string value)
    {
        var (_, line, column, length) = NumericLeaves().Single(l => l.Setting == setting);
        var lines = NumericDocument();
        lines[line - 1] = lines[line - 1][..(column - 1)] + value + lines[line - 1][(column - 1 + length)..];
        var path = Write(string.Join('\n', lines));

        var problems = Assert.Throws<ConfigException>(() => ConfigLoader.Load(path, [], NoEnvironment)).Problems;
        Assert.Contains(problems, p => p.StartsWith($"{path}:{line}:{column}: {setting}: ", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("storage:\n  max_series_per_metric: 4294967297\n", "storage.max_series_per_metric", "4294967297")] // was (int) 1
    [InlineData("ingest:\n  max_inflight_size: 9999999999GiB\n", "ingest.max_inflight_size", "9999999999GiB")] // was a wrapped product
    [InlineData("alerting:\n  stream_buffer: 4294967297\n", "alerting.stream_buffer", "4294967297")]
    public void ANumberPastItsType_IsRefused_NotWrappedAround(string yaml, string setting, string value)
    {
        var problem = Assert.Single(Problems(yaml));
        Assert.StartsWith($"{At(yaml, 2, value)}: {setting}: '{value}' is out of range", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void ShippedVigilYaml_IsTheDefaults_FieldByField()
    {
        var defaults = ConfigLoader.Load(null, [], NoEnvironment);
        var shipped = ConfigLoader.Load(ShippedConfig, [], NoEnvironment);
        Assert.Empty(Differences(defaults, shipped));

        // The comparison looks inside nested records and lists: a change anywhere is named by its path.
        var changed = defaults with
        {
            Storage = defaults.Storage with { ResourceAttributes = ["service.name", "tenant.id"] },
            Alerting = defaults.Alerting with { Retry = defaults.Alerting.Retry with { Jitter = 0.3 } },
            RulesDir = "rules",
        };
        Assert.Equal(["Alerting.Retry.Jitter", "RulesDir", "Storage.ResourceAttributes (count)"], Differences(defaults, changed).Order(StringComparer.Ordinal));
    }

    /// <summary>Every public property, recursively (records, lists, dictionaries), that differs between two option graphs.</summary>
    private static List<string> Differences(object? expected, object? actual, string path = "")
    {
        var differences = new List<string>();
        Compare(expected, actual, path, differences);
        return differences;
    }

    private static void Compare(object? expected, object? actual, string path, List<string> differences)
    {
        if (expected is null || actual is null)
        {
            if (expected is not null || actual is not null)
            {
                differences.Add(path);
            }

            return;
        }

        // Collections are compared by content: a default [..] and a list read from YAML are different types holding the same.
        var type = expected.GetType();
        if (type != actual.GetType() && !(expected is IEnumerable && actual is IEnumerable && expected is not string))
        {
            differences.Add($"{path} (type)");
            return;
        }

        if (type.IsPrimitive || type.IsEnum || expected is string or TimeSpan or decimal or Uri or IPAddress or IPEndPoint)
        {
            if (!expected.Equals(actual))
            {
                differences.Add(path);
            }

            return;
        }

        if (expected is IDictionary expectedMap)
        {
            var actualMap = (IDictionary)actual;
            if (expectedMap.Count != actualMap.Count)
            {
                differences.Add($"{path} (count)");
                return;
            }

            foreach (DictionaryEntry entry in expectedMap)
            {
                Compare(entry.Value, actualMap.Contains(entry.Key) ? actualMap[entry.Key] : null, $"{path}[{entry.Key}]", differences);
            }

            return;
        }

        if (expected is IEnumerable expectedItems)
        {
            var left = expectedItems.Cast<object?>().ToList();
            var right = ((IEnumerable)actual).Cast<object?>().ToList();
            if (left.Count != right.Count)
            {
                differences.Add($"{path} (count)");
                return;
            }

            for (var i = 0; i < left.Count; i++)
            {
                Compare(left[i], right[i], $"{path}[{i}]", differences);
            }

            return;
        }

        Assert.True(type.IsClass && type.Namespace?.StartsWith("Vigil", StringComparison.Ordinal) == true, $"{path}: {type} is neither a leaf the comparison knows nor one of Vigil's option records");
        foreach (var property in type.GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance))
        {
            if (property.GetIndexParameters().Length == 0)
            {
                Compare(property.GetValue(expected), property.GetValue(actual), path.Length == 0 ? property.Name : $"{path}.{property.Name}", differences);
            }
        }
    }

    [GeneratedRegex(@"^-?\d+(\.\d+)?[A-Za-z]*$")]
    private static partial Regex NumberLike();
}
