using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Vigil.Storage;

namespace Vigil.Collector.Tests;

/// <summary>
/// The query APIs refuse what they cannot answer with a 4xx in Prometheus' error shape, and keep serving:
/// queries nested past the depth limit, timestamps and durations out of range, regexes that time out.
/// </summary>
public sealed class QueryApiLimitsTests : IAsyncLifetime
{
    // The documented nesting limit (docs/query.md, docs/decisions/008-nesting-depth-limits.md).
    private const int MaxDepth = 400;

    // Backtracks exponentially on a run of a's that does not end the value, so it meets the regex timeout.
    private const string CatastrophicRegex = "(a+)+$";

    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 60 * 60);

    private readonly FakeTimeProvider _time = new(Now);
    private VigilServer _vigil = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        _vigil = await VigilServer.StartAsync(time: _time);
        _http = new HttpClient { BaseAddress = _vigil.HttpUri };
        var labels = new Dictionary<string, string> { ["job"] = new string('a', 64) + "!" };
        var outcome = _vigil.Store.AddNumber("jobs", MetricKind.Gauge, cumulative: false, labels, default, Now, 1);
        Assert.True(outcome.IsAccepted, outcome.RefusalReason);
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _vigil.DisposeAsync();
    }

    [Fact]
    public async Task HundredThousandNestedParentheses_Answer400_AndTheServerAnswersTheNextQuery()
    {
        const int depth = 100_000;
        var query = new string('(', depth) + "1" + new string(')', depth);

        var (status, body) = await PostQueryAsync(query);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("error", body.GetProperty("status").GetString());
        Assert.Equal("bad_data", body.GetProperty("errorType").GetString());
        var error = body.GetProperty("error").GetString()!;
        Assert.Contains($"deeper than {MaxDepth} levels", error, StringComparison.Ordinal);
        // Refused at the first parenthesis past the limit, not after reading all of them.
        Assert.Contains($"at char {MaxDepth + 1}", error, StringComparison.Ordinal);

        var (nextStatus, next) = await GetAsync("/api/v1/query?query=" + Uri.EscapeDataString("1 + 1"));
        Assert.Equal(HttpStatusCode.OK, nextStatus);
        Assert.Equal("2", next.GetProperty("data").GetProperty("result")[1].GetString());
    }

    [Fact]
    public async Task NestingAtTheLimit_IsAnswered_AndOneLevelMoreIs400()
    {
        var (atLimit, body) = await PostQueryAsync(new string('(', MaxDepth) + "1" + new string(')', MaxDepth));
        Assert.Equal(HttpStatusCode.OK, atLimit);
        Assert.Equal("1", body.GetProperty("data").GetProperty("result")[1].GetString());

        var (beyond, error) = await PostQueryAsync(new string('(', MaxDepth + 1) + "1" + new string(')', MaxDepth + 1));
        Assert.Equal(HttpStatusCode.BadRequest, beyond);
        Assert.Contains($"deeper than {MaxDepth} levels", error.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    public static TheoryData<string, int, string, string> RefusedRequests()
    {
        var regex = Uri.EscapeDataString($"jobs{{job=~\"{CatastrophicRegex}\"}}");
        var first = WindowStore.EarliestTime.ToUnixTimeSeconds();
        var last = WindowStore.LatestTime.ToUnixTimeSeconds();
        return new()
        {
            // url, status, errorType, what the message must name
            { "/api/v1/query?query=1&time=1e300", 400, "bad_data", "invalid parameter \"time\"" },
            { "/api/v1/query?query=1&time=-9e18", 400, "bad_data", "invalid parameter \"time\"" },
            { "/api/v1/query?query=1&time=9e15", 400, "bad_data", "invalid parameter \"time\"" },
            { "/api/v1/query?query=1&time=NaN", 400, "bad_data", "invalid parameter \"time\"" },
            { "/api/v1/query?query=1&time=-1", 400, "bad_data", "invalid parameter \"time\"" },
            // 2609: as nanoseconds it wraps onto today, so it would have read today's buckets.
            { "/api/v1/query?query=jobs&time=" + (Now.AddTicks(184_467_440_737_095_516).ToUnixTimeSeconds()), 400, "bad_data", "invalid parameter \"time\"" },
            { "/api/v1/query?query=1&time=" + Uri.EscapeDataString("9999-12-31T23:59:59Z"), 400, "bad_data", "invalid parameter \"time\"" },
            { "/api/v1/query_range?query=1&start=1e300&end=1e300&step=1", 400, "bad_data", "invalid parameter \"start\"" },
            { "/api/v1/query_range?query=1&start=1&end=-9e18&step=1", 400, "bad_data", "invalid parameter \"end\"" },
            { "/api/v1/query_range?query=1&start=10&end=1&step=1", 400, "bad_data", "invalid parameter \"end\"" },
            { "/api/v1/query_range?query=1&start=1&end=10&step=0", 400, "bad_data", "invalid parameter \"step\"" },
            { "/api/v1/query_range?query=1&start=1&end=10&step=-1", 400, "bad_data", "invalid parameter \"step\"" },
            { "/api/v1/query_range?query=1&start=1&end=10&step=1e300", 400, "bad_data", "invalid parameter \"step\"" },
            { "/api/v1/query_range?query=1&start=1&end=10&step=99999999w", 400, "bad_data", "invalid parameter \"step\"" },
            { "/api/v1/query_range?query=1&start=1&end=100000&step=1", 400, "bad_data", "invalid parameter \"step\"" },
            { "/api/v1/query?query=" + Uri.EscapeDataString("jobs @ 1e300"), 400, "bad_data", "@ modifier" },
            { $"/api/v1/query?query={Uri.EscapeDataString("jobs offset 1h")}&time={first}", 400, "bad_data", "offset 1h" },
            { $"/api/v1/query?query={Uri.EscapeDataString("jobs offset -1h")}&time={last}", 400, "bad_data", "offset -1h" },
            { $"/api/v1/query?query={Uri.EscapeDataString("max_over_time(jobs[5m] offset 1h)")}&time={first}", 400, "bad_data", "offset 1h" },
            { "/api/v1/query?query=" + Uri.EscapeDataString("jobs offset 99999999w"), 400, "bad_data", "\"99999999w\"" },
            { "/api/v1/query?query=" + Uri.EscapeDataString("max_over_time(jobs[99999999w])"), 400, "bad_data", "\"99999999w\"" },
            { "/api/v1/query?query=0xFFFFFFFFFFFFFFFFFFFFFF", 400, "bad_data", "0xFFFFFFFFFFFFFFFFFFFFFF" },
            { "/api/v1/query?query=0x", 400, "bad_data", "\"0x\"" },
            { "/api/v1/metadata?limit=many", 400, "bad_data", "invalid parameter \"limit\"" },
            { "/api/v1/aggregate?metric=jobs&fn=last&window=99999999999999999w", 400, "bad_data", "parameter 'window'" },
            { "/api/v1/aggregate?metric=jobs&fn=last&window=9999999999999w", 400, "bad_data", "parameter 'window'" },
            { "/api/v1/aggregate?metric=jobs&fn=last&at=1e300", 400, "bad_data", "parameter 'at'" },
            { "/api/v1/aggregate?metric=jobs&fn=last&at=-9e18", 400, "bad_data", "parameter 'at'" },
            { "/api/v1/aggregate?metric=jobs&fn=last&at=9e15", 400, "bad_data", "parameter 'at'" },
            { "/api/v1/aggregate?metric=jobs&fn=last&at=" + Uri.EscapeDataString("1969-12-31T23:59:59Z"), 400, "bad_data", "parameter 'at': 1969-12-31T23:59:59Z is out of range" },
            { "/api/v1/query?query=" + regex, 422, "execution", "job=~" },
            { $"/api/v1/query_range?query={regex}&start={Now.ToUnixTimeSeconds() - 60}&end={Now.ToUnixTimeSeconds()}&step=15", 422, "execution", "job=~" },
            { "/api/v1/series?match[]=" + regex, 422, "execution", "job=~" },
            { "/api/v1/labels?match[]=" + regex, 422, "execution", "job=~" },
            { "/api/v1/label/job/values?match[]=" + regex, 422, "execution", "job=~" },
            { "/api/v1/aggregate?metric=jobs&fn=last&match=" + Uri.EscapeDataString("job=~" + CatastrophicRegex), 422, "execution", "parameter 'match'" },
        };
    }

    [Theory]
    [MemberData(nameof(RefusedRequests))]
    public async Task OutOfRangeInputs_AreRefusedNamingTheParameter_AndTheServerKeepsServing(string url, int status, string errorType, string names)
    {
        var (actual, body) = await GetAsync(url);

        Assert.Equal((HttpStatusCode)status, actual);
        Assert.Equal("error", body.GetProperty("status").GetString());
        Assert.Equal(errorType, body.GetProperty("errorType").GetString());
        Assert.Contains(names, body.GetProperty("error").GetString(), StringComparison.Ordinal);

        var (nextStatus, _) = await GetAsync("/api/v1/query?query=jobs");
        Assert.Equal(HttpStatusCode.OK, nextStatus);
    }

    [Fact]
    public async Task RangeEndingAtTheStoresLastSecond_IsAnswered()
    {
        var end = WindowStore.LatestTime.ToUnixTimeSeconds();
        const int steps = 100;

        var (status, body) = await GetAsync($"/api/v1/query_range?query=time()&start={end - steps}&end={end}&step=1");

        Assert.Equal(HttpStatusCode.OK, status);
        var values = body.GetProperty("data").GetProperty("result")[0].GetProperty("values");
        Assert.Equal(steps + 1, values.GetArrayLength());
        Assert.Equal(end.ToString(CultureInfo.InvariantCulture), values[steps][1].GetString());
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> PostQueryAsync(string query)
    {
        using var content = new FormUrlEncodedContent([new("query", query), new("time", Now.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture))]);
        using var response = await _http.PostAsync("/api/v1/query", content);
        return (response.StatusCode, await ReadAsync(response));
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> GetAsync(string url)
    {
        using var response = await _http.GetAsync(url);
        return (response.StatusCode, await ReadAsync(response));
    }

    private static async Task<JsonElement> ReadAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(text.Length > 0, $"{(int)response.StatusCode} with an empty body");
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }
}
