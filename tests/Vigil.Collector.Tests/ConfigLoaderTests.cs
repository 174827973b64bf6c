using System.Net;
using Vigil.Collector.Configuration;

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
    public void ShippedVigilYaml_MatchesTheDefaults()
    {
        var shipped = Path.Combine(AppContext.BaseDirectory, "vigil.yaml");
        var fromFile = ConfigLoader.Load(shipped, []);
        var defaults = ConfigLoader.Load(null, []);
        Assert.Equal(defaults.OtlpGrpc, fromFile.OtlpGrpc);
        Assert.Equal(defaults.Http, fromFile.Http);
        Assert.Equal(defaults.DataDir, fromFile.DataDir);
        Assert.Equal(defaults.Storage.Resolution, fromFile.Storage.Resolution);
        Assert.Equal(defaults.Storage.Retention, fromFile.Storage.Retention);
        Assert.Equal(defaults.Storage.ResourceAttributes, fromFile.Storage.ResourceAttributes);
        Assert.Equal(defaults.Storage.MaxSeriesPerMetric, fromFile.Storage.MaxSeriesPerMetric);
        Assert.Equal(defaults.Ingest, fromFile.Ingest);
        Assert.Equal(defaults.Telemetry, fromFile.Telemetry);
        Assert.Equal(defaults.Wal, fromFile.Wal);
        Assert.Equal("rules", fromFile.RulesDir);
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
        Assert.Contains("server.http: port 5000 is also used by server.otlp_grpc", error.Problems);
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
        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Load(path, []));
        Assert.Contains($"{path}:2:5: remote_write[0].url: 'not-a-url' is not an absolute http(s) URL (e.g. http://127.0.0.1:8428/api/v1/write)", error.Problems);
        Assert.Contains($"{path}:2:5: remote_write[0].send[1]: 'everything' is not aggregates or series", error.Problems);
        Assert.Contains(error.Problems, p => p.StartsWith($"{path}:2:5: remote_write[0].match[0]: 'sum(x)' is not a series selector", StringComparison.Ordinal));
        Assert.Contains($"{path}:7:7: unknown setting 'remote_write[1].queue.max_sampels_per_send' (did you mean 'max_samples_per_send'?)", error.Problems);
    }
}
