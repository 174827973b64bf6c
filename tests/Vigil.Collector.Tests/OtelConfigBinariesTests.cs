using System.Diagnostics;
using System.Text.Json;
using Vigil.Instrumentation.Tests;
using Vigil.Tests.Shared;

namespace Vigil.Collector.Tests;

/// <summary>
/// Issue #11 item 7: the Prometheus and Alertmanager configs shipped in otel-config/ are accepted by the real Debian
/// binaries, not only parsed as YAML: <c>promtool check config</c>, a <c>prometheus</c> started on each briefly (on
/// 127.0.0.1, a temporary data directory, stopped after), and <c>amtool check-config</c>. A broken copy of each is
/// refused, so the checks can fail.
/// </summary>
public sealed class OtelConfigBinariesTests
{
    public static TheoryData<string> PrometheusConfigs() => new("otel-config/prometheus/prometheus.yml", "otel-config/prometheus/global.yml");

    [Theory]
    [MemberData(nameof(PrometheusConfigs))]
    public async Task PromtoolCheckConfig_AcceptsTheShippedPrometheusConfig(string config)
    {
        var (exit, output) = await RunAsync("promtool", "prometheus", ["check", "config", RepoPaths.Of(config)]);

        Assert.True(exit == 0, $"promtool check config {config} exited {exit}:\n{output}");
        Assert.Contains("SUCCESS", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PromtoolCheckConfig_RefusesAConfigWithAnUnknownField()
    {
        var broken = await BrokenCopyAsync("otel-config/prometheus/prometheus.yml", "scrape_interval: 15s", "scrape_intervall: 15s");

        var (exit, output) = await RunAndDeleteAsync(broken, "promtool", "prometheus", ["check", "config", broken]);

        Assert.True(exit != 0, $"promtool accepted a config with scrape_intervall:\n{output}");
        Assert.Contains("scrape_intervall", output, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(PrometheusConfigs))]
    public async Task Prometheus_StartsOnTheShippedConfig_AndLoadsItsScrapeJobs(string config)
    {
        _ = Binary("prometheus", "prometheus");
        var text = await File.ReadAllTextAsync(RepoPaths.Of(config));
        await using var prometheus = await RealPrometheus.StartAsync(text);

        // What the server loaded, from its own API: the jobs and targets of the file.
        using var status = JsonDocument.Parse(await prometheus.Http.GetStringAsync("/api/v1/status/config"));
        var loaded = status.RootElement.GetProperty("data").GetProperty("yaml").GetString()!;
        var jobs = YamlJobs(text);
        Assert.NotEmpty(jobs);
        Assert.All(jobs, job => Assert.Contains("job_name: " + job, loaded, StringComparison.Ordinal));

        // Discovery hands the static targets to the scrape manager a few seconds after start: wait for that state.
        var expected = jobs.Order(StringComparer.Ordinal).ToList();
        var pools = await prometheus.ScrapePoolsAsync(expected.Count);
        Assert.Equal(expected, pools);
    }

    [Fact]
    public async Task AmtoolCheckConfig_AcceptsTheShippedAlertmanagerConfig()
    {
        var (exit, output) = await RunAsync("amtool", "prometheus-alertmanager", ["check-config", RepoPaths.Of("otel-config/alertmanager/alertmanager.yml")]);

        Assert.True(exit == 0, $"amtool check-config exited {exit}:\n{output}");
        Assert.Contains("SUCCESS", output, StringComparison.Ordinal);
        Assert.Contains("2 receivers", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AmtoolCheckConfig_RefusesARouteToAnUndefinedReceiver()
    {
        var broken = await BrokenCopyAsync("otel-config/alertmanager/alertmanager.yml", "receiver: p1-pager", "receiver: p1-pagr");

        var (exit, output) = await RunAndDeleteAsync(broken, "amtool", "prometheus-alertmanager", ["check-config", broken]);

        Assert.True(exit != 0, $"amtool accepted a route to an undefined receiver:\n{output}");
        Assert.Contains("p1-pagr", output, StringComparison.Ordinal);
    }

    /// <summary>The <c>job_name</c>s of a Prometheus config, read as text (the file's own lines).</summary>
    private static List<string> YamlJobs(string config) =>
        [.. config.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("- job_name:", StringComparison.Ordinal)).Select(l => l["- job_name:".Length..].Trim())];

    private static async Task<string> BrokenCopyAsync(string config, string find, string replace)
    {
        var text = await File.ReadAllTextAsync(RepoPaths.Of(config));
        Assert.Contains(find, text, StringComparison.Ordinal);
        var path = Path.Combine(Path.GetTempPath(), "vigil-config-" + Guid.NewGuid().ToString("N") + Path.GetExtension(config));
        await File.WriteAllTextAsync(path, text.Replace(find, replace, StringComparison.Ordinal));
        return path;
    }

    /// <summary>A binary found on PATH; a clear failure naming its Debian package when it is not there.</summary>
    private static string Binary(string name, string package)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        Assert.Fail($"{name} is not on PATH: install the Debian package {package} (tests/run.sh installs tests/apt-packages.txt)");
        return name;
    }

    private static async Task<(int Exit, string Output)> RunAndDeleteAsync(string file, string name, string package, IEnumerable<string> arguments)
    {
        try
        {
            return await RunAsync(name, package, arguments);
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static async Task<(int Exit, string Output)> RunAsync(string name, string package, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(Binary(name, package)) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var error = process.StandardError.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output + await error);
    }
}
