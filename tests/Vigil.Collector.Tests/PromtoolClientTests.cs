using System.Globalization;
using Microsoft.Extensions.Time.Testing;
using Vigil.Storage;
using Vigil.Tests.Shared;

namespace Vigil.Collector.Tests;

/// <summary>
/// The Debian promtool (Prometheus 2.42's own API client) as a real client of Vigil's query API:
/// <c>promtool query instant / range / series / labels</c> (issue #11 item 6).
/// </summary>
public sealed class PromtoolClientTests : IAsyncLifetime
{
    // Whole seconds, so the times promtool prints compare exactly.
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 60 * 60);

    private readonly FakeTimeProvider _time = new(Now);
    private VigilServer _vigil = null!;

    private string Url => _vigil.HttpUri.ToString().TrimEnd('/');

    public async Task InitializeAsync()
    {
        _vigil = await VigilServer.StartAsync(time: _time);
        foreach (var (job, value) in new[] { ("a", 3.0), ("b", 4.0) })
        {
            var outcome = _vigil.Store.AddNumber("jobs", MetricKind.Gauge, cumulative: false, new Dictionary<string, string> { ["job"] = job }, default, Now, value);
            Assert.True(outcome.IsAccepted, outcome.RefusalReason);
        }
    }

    public async Task DisposeAsync() => await _vigil.DisposeAsync();

    private static string Seconds(DateTimeOffset time) => time.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);

    private async Task<string> PromtoolAsync(params string[] arguments)
    {
        var (exit, output) = await RealPrometheus.PromtoolAsync(arguments);
        Assert.True(exit == 0, $"promtool {string.Join(' ', arguments)} exited {exit}:\n{output}");
        return output;
    }

    [Fact]
    public async Task QueryInstant_PrintsEachSeriesAndTheSum()
    {
        var each = await PromtoolAsync("query", "instant", "--time=" + Seconds(Now), Url, "jobs");
        var sum = await PromtoolAsync("query", "instant", "--time=" + Seconds(Now), Url, "sum(jobs)");

        // promtool prints "labels => value @[unix time]" per sample.
        Assert.Contains($"jobs{{job=\"a\"}} => 3 @[{Seconds(Now)}]", each, StringComparison.Ordinal);
        Assert.Contains($"jobs{{job=\"b\"}} => 4 @[{Seconds(Now)}]", each, StringComparison.Ordinal);
        Assert.Equal($"{{}} => 7 @[{Seconds(Now)}]", sum.Trim());
    }

    [Fact]
    public async Task QueryRange_PrintsTheStepsOfTheMatrix()
    {
        var output = await PromtoolAsync("query", "range", "--start=" + Seconds(Now), "--end=" + Seconds(Now.AddSeconds(60)), "--step=30s", Url, "sum(jobs)");

        // A gauge point stays the answer for Prometheus' 5 m lookback: the same value at each of the three steps.
        foreach (var at in new[] { Now, Now.AddSeconds(30), Now.AddSeconds(60) })
        {
            Assert.Contains($"7 @[{Seconds(at)}]", output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task QuerySeriesAndLabels_ListWhatVigilHolds()
    {
        var series = await PromtoolAsync("query", "series", "--match=jobs", "--start=" + Seconds(Now.AddMinutes(-5)), "--end=" + Seconds(Now), Url);
        var values = await PromtoolAsync("query", "labels", "--start=" + Seconds(Now.AddMinutes(-5)), "--end=" + Seconds(Now), Url, "job");

        Assert.Contains("__name__=\"jobs\"", series, StringComparison.Ordinal);
        Assert.Contains("job=\"a\"", series, StringComparison.Ordinal);
        Assert.Contains("job=\"b\"", series, StringComparison.Ordinal);
        Assert.Equal(["a", "b"], values.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    [Fact]
    public async Task ABadQuery_FailsPromtoolWithVigilsMessage()
    {
        var (exit, output) = await RealPrometheus.PromtoolAsync(["query", "instant", Url, "sum(jobs"]);

        Assert.NotEqual(0, exit);
        Assert.Contains("bad_data", output, StringComparison.Ordinal);
    }
}
