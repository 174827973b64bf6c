using System.Net;
using Vigil.Collector.Configuration;
using Vigil.Rules;

namespace Vigil.Collector.Tests;

public sealed class ConfigLoaderTests
{
    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    [Fact]
    public void NoConfig_UsesEmbeddedDefaults()
    {
        var options = ConfigLoader.Load(null, []);
        Assert.Equal(4317, options.OtlpGrpc.Port);
        Assert.Equal(4318, options.OtlpHttp.Port);
        Assert.Equal(9190, options.Http.Port);
        Assert.Equal("./data", options.DataDir);
        Assert.Equal(TimeSpan.FromSeconds(10), options.Storage.Resolution);
        Assert.Equal(TimeSpan.FromHours(1), options.Storage.Retention);
        Assert.Equal(20 * 1024 * 1024, options.Ingest.MaxRequestBytes);
        Assert.Null(options.RulesDir);
    }

    [Fact]
    public void ValidFile_IsApplied_AndFlagsOverrideIt()
    {
        var options = ConfigLoader.Load(Fixture("valid_config.yaml"), ["--otlp-http", "127.0.0.1:24318", "--data-dir", "/tmp/override", "--rules", "/tmp/rules"]);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 14317), options.OtlpGrpc);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 24318), options.OtlpHttp);
        Assert.Equal("/tmp/override", options.DataDir);
        Assert.Equal(TimeSpan.FromSeconds(5), options.Storage.Resolution);
        Assert.Equal(TimeSpan.FromMinutes(30), options.Storage.Retention);
        Assert.Equal(["service.name", "tenant.id"], options.Storage.ResourceAttributes);
        Assert.Equal(4 * 1024 * 1024, options.Ingest.MaxRequestBytes);
        Assert.Equal("/tmp/rules", options.RulesDir);
        Assert.Equal(new RuleLimits { MaxFileBytes = 2 * 1024 * 1024, MaxStringLength = 4096, MaxRulesPerFile = 500, MaxRules = 2000 }, options.RuleLimits);
    }

    [Fact]
    public void InstanceLimitAndExplainHistory_AreReadAndBadValuesReportedAtTheirPlace()
    {
        var path = Path.Combine(Path.GetTempPath(), $"vigil-config-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, "rules:\n  max_instances_per_rule: 0\n  explain_history: -1\n");
        try
        {
            var error = Assert.Throws<ConfigException>(() => ConfigLoader.Load(path, []));

            Assert.Equal(
                [$"{path}:2:27: rules.max_instances_per_rule: must be at least 1", $"{path}:3:20: rules.explain_history: must be between 0 and 1000"],
                error.Problems);
            File.WriteAllText(path, "rules:\n  max_instances_per_rule: 250\n  explain_history: 5\n");
            var limits = ConfigLoader.Load(path, []).RuleLimits;
            Assert.Equal((250, 5), (limits.MaxInstancesPerRule, limits.ExplainHistory));
            Assert.Equal((10_000, 20), (Vigil.Rules.RuleLimits.Default.MaxInstancesPerRule, Vigil.Rules.RuleLimits.Default.ExplainHistory));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void RuleLimits_ThatCannotWork_AreReportedWithTheirPaths()
    {
        var path = Path.Combine(Path.GetTempPath(), $"vigil-config-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, "rules:\n  max_file_size: lots\n  max_rules_per_file: 0\n  max_rules: 99999999999\n");
        try
        {
            var error = Assert.Throws<ConfigException>(() => ConfigLoader.Load(path, []));

            // Every problem at once, each at its place; a number too large for the setting is refused, not saturated.
            Assert.Equal(3, error.Problems.Count);
            Assert.StartsWith($"{path}:2:18: rules.max_file_size: 'lots' is not a size", error.Problems[0], StringComparison.Ordinal);
            Assert.Equal($"{path}:4:14: rules.max_rules: '99999999999' is out of range (at most {int.MaxValue})", error.Problems[1]);
            Assert.Equal($"{path}:3:23: rules.max_rules_per_file: must be at least 1", error.Problems[2]);
            File.WriteAllText(path, $"rules:\n  max_rules: {int.MaxValue}\n");
            Assert.Equal(int.MaxValue, ConfigLoader.Load(path, []).RuleLimits.MaxRules);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void TypoAndBadDuration_AreReportedWithLineColumnAndSuggestion()
    {
        var path = Fixture("typo_setting.yaml");
        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Load(path, []));
        Assert.Equal(2, error.Problems.Count);
        Assert.Equal($"{path}:5:3: unknown setting 'storage.retension' (did you mean 'retention'?)", error.Problems[0]);
        Assert.Equal($"{path}:7:16: ingest.retry_after: 'soon' is not a duration; write e.g. 10s, 5m, 1h30m", error.Problems[1]);
    }

    [Fact]
    public void BadFlags_AreAllReported()
    {
        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Load(null, ["--http", "nine", "--verbose", "yes"]));
        Assert.Contains(error.Problems, p => p.StartsWith("--http: 'nine' is not HOST:PORT", StringComparison.Ordinal));
        Assert.Contains(error.Problems, p => p.StartsWith("--verbose: unknown flag", StringComparison.Ordinal));
    }

    [Fact]
    public void InconsistentOptions_FailValidationWithTheirPaths()
    {
        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Load(null, ["--otlp-grpc", "127.0.0.1:5000", "--http", "127.0.0.1:5000"]));
        Assert.Contains("--http: server.http: port 5000 is also used by server.otlp_grpc", error.Problems);
    }

    [Fact]
    public void MemoryLimit_DefaultsToAShareOfTheAvailableMemory_SoftLimitASpikeBelow()
    {
        const long available = 10L << 30;
        var (hard, soft) = ConfigLoader.Load(null, []).Ingest.MemoryLimits(available);
        Assert.Equal((long)(available * 0.8), hard);
        Assert.Equal(hard - (long)(hard * 0.2), soft);
        Assert.Equal(1_000_000, ConfigLoader.Load(null, []).Storage.MaxSeries);
    }

    [Fact]
    public void MemoryLimit_TakesASizeOrAPercentage_OrZeroForNone()
    {
        const long available = 8L << 30;
        var sized = ConfigLoader.Load(Fixture("memory_limit_size.yaml"), []);
        Assert.Equal((2L << 30, (2L << 30) - (long)((2L << 30) * 0.25)), sized.Ingest.MemoryLimits(available));
        Assert.Equal(TimeSpan.FromSeconds(2), sized.Ingest.MemoryCheckInterval);
        Assert.Equal(5000, sized.Storage.MaxSeries);

        var percent = ConfigLoader.Load(Fixture("memory_limit_percent.yaml"), []);
        Assert.Equal((available / 2, (available / 2) - (100L << 20)), percent.Ingest.MemoryLimits(available));

        Assert.Equal((0L, 0L), ConfigLoader.Load(Fixture("memory_limit_off.yaml"), []).Ingest.MemoryLimits(available));
    }

    [Fact]
    public void BadMemoryLimit_IsReportedWithLineAndColumn()
    {
        var path = Fixture("bad_memory_limit.yaml");
        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Load(path, []));
        Assert.Equal(
            [
                $"{path}:2:17: ingest.memory_limit: '120%' is not a percentage; write e.g. 80%, or a size such as 2GiB",
                $"{path}:3:23: ingest.memory_spike_limit: 'lots' is not a size; write e.g. 20MiB, 512KiB or a number of bytes",
            ],
            error.Problems);
    }

    [Fact]
    public void HundredThousandNestedLists_AreRefusedWithLineAndColumn()
    {
        // The documented limit (docs/decisions/008-nesting-depth-limits.md); the top-level mapping is level 1.
        const int maxDepth = 100;
        var path = Path.Combine(Path.GetTempPath(), $"vigil-deep-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, "storage:\n  resource_attributes: " + new string('[', 100_000) + new string(']', 100_000) + "\n");
        try
        {
            var error = Assert.Throws<ConfigException>(() => ConfigLoader.Load(path, []));

            // storage is level 2, so the list that opens level 101 is the 99th bracket of line 2.
            var column = "  resource_attributes: ".Length + maxDepth - 1;
            Assert.Equal([$"{path}:2:{column}: YAML nested deeper than {maxDepth} levels of mappings and lists"], error.Problems);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void RemoteWrite_IsAList_WithDefaultsForWhatIsLeftOut()
    {
        var options = ConfigLoader.Load(Fixture("remote_write.yaml"), []);
        Assert.Equal(2, options.RemoteWrite.Count);
        var victoria = options.RemoteWrite[0];
        Assert.Equal("victoria", victoria.QueueName);
        Assert.True(victoria.SendsAggregates && victoria.SendsSeries);
        Assert.Equal("acme", victoria.Headers["X-Scope-OrgID"]);
        Assert.Equal(500, victoria.Queue.MaxSamplesPerSend);
        Assert.Equal(TimeSpan.FromSeconds(2), victoria.Queue.BatchSendDeadline);
        Assert.Equal(TimeSpan.FromMinutes(30), victoria.Queue.MaxAge);
        Assert.Equal(4, victoria.Queue.Shards);
        var prometheus = options.RemoteWrite[1];
        Assert.Equal(prometheus.Url, prometheus.QueueName);
        Assert.True(prometheus.SendsAggregates);
        Assert.False(prometheus.SendsSeries);
        Assert.Equal(new Vigil.RemoteWrite.RemoteWriteQueueOptions(), prometheus.Queue);
        Assert.Empty(ConfigLoader.Load(null, []).RemoteWrite);
    }

    [Fact]
    public void BadRemoteWrite_IsReportedWithLineColumnAndPath()
    {
        var path = Fixture("bad_remote_write.yaml");
        var lines = File.ReadAllLines(path);
        string At(int line, string token) => $"{path}:{line}:{lines[line - 1].IndexOf(token, StringComparison.Ordinal) + 1}";
        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Load(path, []));

        // Each at the value it is about, and reported beside the unknown key of the next entry.
        Assert.Contains($"{At(2, "not-a-url")}: remote_write[0].url: 'not-a-url' is not an absolute http(s) URL (e.g. http://127.0.0.1:8428/api/v1/write)", error.Problems);
        Assert.Contains($"{At(3, "everything")}: remote_write[0].send[1]: 'everything' is not aggregates or series", error.Problems);
        Assert.Contains(error.Problems, p => p.StartsWith($"{At(4, "'sum(x)'")}: remote_write[0].match[0]: 'sum(x)' is not a series selector", StringComparison.Ordinal));
        Assert.Contains($"{path}:7:7: unknown setting 'remote_write[1].queue.max_sampels_per_send' (did you mean 'max_samples_per_send'?)", error.Problems);
        Assert.Equal(4, error.Problems.Count); // each once: the entry is not validated a second time while it is read
    }
}
