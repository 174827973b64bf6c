using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;

namespace Vigil.Collector.Tests;

/// <summary>
/// The query APIs refuse what they cannot answer with a 4xx in Prometheus' error shape, and keep serving:
/// queries nested past the depth limit.
/// </summary>
public sealed class QueryApiLimitsTests : IAsyncLifetime
{
    // The documented nesting limit (docs/query.md, docs/decisions/008-nesting-depth-limits.md).
    private const int MaxDepth = 400;

    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 60 * 60);

    private readonly FakeTimeProvider _time = new(Now);
    private VigilServer _vigil = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        _vigil = await VigilServer.StartAsync(time: _time);
        _http = new HttpClient { BaseAddress = _vigil.HttpUri };
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
