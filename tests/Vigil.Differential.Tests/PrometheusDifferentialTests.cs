using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Xunit.Abstractions;

namespace Vigil.Differential.Tests;

/// <summary>
/// Issue #11 item 2: the same data in a real Prometheus (backfilled with promtool) and in Vigil (through OTLP),
/// then every query of a corpus asked of both as an instant query and as a range query over 30 minutes. Vigil must
/// give Prometheus' answer, the answer of a documented difference, or a 400 <c>bad_data</c> — never another value,
/// never a 5xx.
/// </summary>
public sealed class PrometheusDifferentialTests(DifferentialFixture fixture, ITestOutputHelper output) : IClassFixture<DifferentialFixture>
{
    private const int RangeStepSeconds = 60;

    private enum Mode
    {
        Instant,
        Range,
    }

    private enum Verdict
    {
        Same,
        Differs,
        Unsupported,
        Failed,
    }

    /// <param name="Points">How many points Prometheus' answer holds: an agreement on nothing proves little.</param>
    private sealed record Outcome(CorpusQuery Query, Mode Mode, Verdict Verdict, string Detail, int Points = 0);

    private sealed record Answer(HttpStatusCode Status, string Body, string? ErrorType, string? Error, QueryResult? Result);

    /// <summary>Instant queries at <paramref name="Time"/>, range queries over the 30 minutes up to it.</summary>
    private sealed record Times(DateTimeOffset Time)
    {
        public string Instant => Seconds(Time);

        public string RangeStart => Seconds(Time.AddMinutes(-30));
    }

    [Fact]
    public async Task Corpus_AnswersAsPrometheus_OrAsDocumented_OrRefusesByName()
    {
        // Both sides hold the whole data set: every series of it, live at the end but the one that stopped.
        const string everySeries = "count({__name__=~\"http_requests_total|jobs_processed_total|queue_depth|cpu_utilization_ratio|request_duration_seconds_count\"})";
        var data = fixture.Data;
        var live = data.Counters.Count + data.Gauges.Count(g => g.StopAfter == DataSet.Steps - 1) + data.Histograms.Count;
        foreach (var side in new[] { fixture.Prometheus, fixture.Vigil })
        {
            var count = await AskAsync(side, everySeries, Mode.Instant, new Times(DataSet.End));
            Assert.True(count.Result is not null, count.Body);
            Assert.Equal(live, Assert.Single(count.Result.Series).Value.Single().Value);
        }

        // On the grid: the data's last sample time, and range steps on bucket starts.
        await RunCorpusAsync("queries.txt", new Times(DataSet.End), minimum: 200);
    }

    [Fact]
    public async Task OffGridCorpus_ShowsBucketAlignedExactIncrease()
    {
        // Half a bucket before the last sample: every window edge falls between two samples.
        await RunCorpusAsync("queries-offgrid.txt", new Times(DataSet.End.AddSeconds(-DataSet.StepSeconds / 2.0)), minimum: 10);
    }

    [Fact]
    public async Task OtlpConventions_JobInstanceAndTargetInfo_AnswerAsPrometheus()
    {
        // decision 028: job and instance derived from the resource, target_info per resource.
        await RunCorpusAsync("queries-otlp.txt", new Times(DataSet.End), minimum: 20);
    }

    private async Task RunCorpusAsync(string file, Times times, int minimum)
    {
        var corpus = QueryCorpus.Parse(Path.Combine(AppContext.BaseDirectory, file));
        Assert.True(corpus.Count >= minimum, $"{file} holds {corpus.Count} queries; at least {minimum} expected");
        var outcomes = new List<Outcome>();
        foreach (var query in corpus)
        {
            foreach (var mode in new[] { Mode.Instant, Mode.Range })
            {
                outcomes.Add(await CompareAsync(fixture.Prometheus, fixture.Vigil, query, mode, times));
            }
        }

        var report = Report(outcomes);
        output.WriteLine(report);
        var failed = outcomes.Where(o => o.Verdict == Verdict.Failed).ToList();
        Assert.True(failed.Count == 0, $"{failed.Count} answers neither Prometheus' nor documented:\n" + string.Join("\n", failed.Select(f => $"{f.Query} [{f.Mode}]: {f.Detail}")) + "\n\n" + report);
    }

    private static async Task<Outcome> CompareAsync(HttpClient prometheus, HttpClient vigil, CorpusQuery query, Mode mode, Times times)
    {
        var expected = await AskAsync(prometheus, query.Query, mode, times);
        if (expected.Result is null)
        {
            return new(query, mode, Verdict.Failed, $"the corpus is wrong: Prometheus answers {(int)expected.Status} {expected.Body}");
        }

        var actual = await AskAsync(vigil, query.Query, mode, times);
        if (actual.Status == HttpStatusCode.BadRequest && actual.ErrorType == "bad_data" && !string.IsNullOrWhiteSpace(actual.Error))
        {
            return query.Expectation switch
            {
                Expectation.Same or Expectation.Differs => new(query, mode, Verdict.Failed, $"expected an answer, Vigil refuses: {actual.Error}"),
                Expectation.Unsupported when !actual.Error.Contains(query.Construct!, StringComparison.OrdinalIgnoreCase) =>
                    new(query, mode, Verdict.Failed, $"the refusal does not name \"{query.Construct}\": {actual.Error}"),
                _ => new(query, mode, Verdict.Unsupported, actual.Error),
            };
        }

        if (actual.Result is null)
        {
            return new(query, mode, Verdict.Failed, $"Vigil answers {(int)actual.Status} {actual.Body}");
        }

        var difference = QueryResult.Difference(expected.Result, actual.Result);
        if (difference is null)
        {
            return new(query, mode, Verdict.Same, query.Expectation == Expectation.Unsupported ? "now supported: update queries.txt" : "", expected.Result.Series.Values.Sum(p => p.Count));
        }

        if (query.Expectation != Expectation.Differs)
        {
            return new(query, mode, Verdict.Failed, $"wrong answer: {difference}");
        }

        // The documented relation: Vigil's answer to the equivalent is Prometheus' to the query, or the other way round.
        var equivalent = await AskAsync(query.EquivalentOnVigil ? vigil : prometheus, query.Equivalent!, mode, times);
        var relation = equivalent.Result is null
            ? $"{(int)equivalent.Status} {equivalent.Body}"
            : query.EquivalentOnVigil ? QueryResult.Difference(expected.Result, equivalent.Result) : QueryResult.Difference(equivalent.Result, actual.Result);
        var arrow = query.EquivalentOnVigil ? "=>" : "<=";
        return relation is null
            ? new(query, mode, Verdict.Differs, $"{query.Difference} {arrow} {query.Equivalent}", expected.Result.Series.Values.Sum(p => p.Count))
            : new(query, mode, Verdict.Failed, $"differs from Prometheus ({difference}), and the documented relation {query.Difference} ({arrow} {query.Equivalent}) does not hold: {relation}");
    }

    private static async Task<Answer> AskAsync(HttpClient http, string query, Mode mode, Times times)
    {
        var url = mode == Mode.Instant
            ? $"/api/v1/query?query={Uri.EscapeDataString(query)}&time={times.Instant}"
            : $"/api/v1/query_range?query={Uri.EscapeDataString(query)}&start={times.RangeStart}&end={times.Instant}&step={RangeStepSeconds}";
        using var response = await http.GetAsync(url);
        var body = await response.Content.ReadAsStringAsync();
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.GetProperty("status").GetString() != "success")
            {
                return new(response.StatusCode, body, root.TryGetProperty("errorType", out var type) ? type.GetString() : null, root.TryGetProperty("error", out var error) ? error.GetString() : null, null);
            }

            return new(response.StatusCode, body, null, null, response.IsSuccessStatusCode ? QueryResult.Parse(root.GetProperty("data")) : null);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return new(response.StatusCode, $"{body} ({e.Message})", null, null, null);
        }
    }

    private static string Report(List<Outcome> outcomes)
    {
        var text = new StringBuilder();
        var answered = outcomes.Count(o => o.Verdict is Verdict.Same or Verdict.Differs);
        var same = outcomes.Count(o => o.Verdict == Verdict.Same);
        text.AppendLine(CultureInfo.InvariantCulture, $"{outcomes.Count / 2} queries, {outcomes.Count} answers (instant and range):");
        foreach (var verdict in Enum.GetValues<Verdict>())
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"  {verdict}: {outcomes.Count(o => o.Verdict == verdict)} (instant {outcomes.Count(o => o.Verdict == verdict && o.Mode == Mode.Instant)}, range {outcomes.Count(o => o.Verdict == verdict && o.Mode == Mode.Range)})");
        }

        text.AppendLine(CultureInfo.InvariantCulture, $"  agreement (same / answered): {same}/{answered} = {(answered == 0 ? 0 : 100.0 * same / answered):F1} %; {outcomes.Count(o => o.Verdict == Verdict.Same && o.Points == 0)} of the same answers are empty on both sides; {outcomes.Sum(o => o.Points)} points compared");
        foreach (var outcome in outcomes.Where(o => o.Mode == Mode.Instant))
        {
            var range = outcomes.Single(o => o.Query == outcome.Query && o.Mode == Mode.Range);
            text.AppendLine(CultureInfo.InvariantCulture, $"{outcome.Verdict,-11} {range.Verdict,-11} {outcome.Query.Query}  {outcome.Detail}{(range.Detail != outcome.Detail ? " | range: " + range.Detail : "")}");
        }

        return text.ToString();
    }

    private static string Seconds(DateTimeOffset time) => (time.ToUnixTimeMilliseconds() / 1000.0).ToString(CultureInfo.InvariantCulture);
}
