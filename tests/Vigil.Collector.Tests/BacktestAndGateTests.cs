using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Vigil.Collector.Rules;
using Vigil.Rules;

namespace Vigil.Collector.Tests;

/// <summary>
/// <c>POST /api/v1/rules/backtest</c> with <c>vigil rules backtest</c>, and <c>GET /api/v1/gate</c> with
/// <c>vigil gate</c>, against a real collector on a fake clock fed over OTLP/HTTP.
/// </summary>
public sealed class BacktestAndGateTests : IAsyncDisposable
{
    private const string Group = "checkout";

    // Pending once 4 of the 6 buckets of a 1m window are all failures, firing 30 s later, resolved when fewer are.
    private const string Rules = """
        group: checkout
        interval: 30s
        rules:
          - alert: CheckoutAuthFailures
            severity: P1
            runbook_url: https://runbooks.example.com/checkout/auth
            ratio:
              of: auth.requests{auth.outcome="failure"}
              to: auth.requests
            by: [tenant.id]
            window: 1m
            min_samples: 10
            threshold: "> 0.5"
            for: 30s
        """;

    private const string BadRules = "group: checkout\nrules:\n  - alert: Broken\n    severity: P1\n    treshold: \"> 1\"\n";

    // On the 30 s grid, so every 10 s step is one bucket and the expected instants below are whole slots apart.
    private static readonly DateTimeOffset T0 = new(2026, 12, 3, 10, 0, 0, TimeSpan.Zero);
    private readonly string _rulesDir = Path.Combine(VigilServer.NewDataDir(), "rules");
    private readonly FakeTimeProvider _time = new(T0);
    private readonly StringWriter _out = new();
    private readonly StringWriter _err = new();

    public BacktestAndGateTests()
    {
        Directory.CreateDirectory(_rulesDir);
        File.WriteAllText(Path.Combine(_rulesDir, "checkout.yaml"), Rules);
    }

    public ValueTask DisposeAsync()
    {
        Directory.Delete(Path.GetDirectoryName(_rulesDir)!, recursive: true);
        return ValueTask.CompletedTask;
    }

    private Task<VigilServer> StartAsync() =>
        VigilServer.StartAsync(o => o with { RulesDir = _rulesDir, AdminToken = TestKeys.AdminToken }, _time);

    /// <summary>acme: 20 requests per 10 s step, all failing from 2:00 to 4:00, none before or after; beta never fails.</summary>
    private async Task SendStepsAsync(VigilServer vigil, int from, int to)
    {
        using var http = new HttpClient { BaseAddress = vigil.OtlpHttpUri };
        for (var step = from; step < to; step++)
        {
            MoveTo(step);
            var failures = step is >= 12 and < 24 ? 20 : 0;
            var request = OtlpRequests.Merge(
                OtlpRequests.DeltaCounterAt("auth.requests", _time.GetUtcNow(), "acme", ("auth.outcome", "failure", failures), ("auth.outcome", "success", 20 - failures)),
                OtlpRequests.DeltaCounterAt("auth.requests", _time.GetUtcNow(), "beta", ("auth.outcome", "success", 20)));
            using var content = new ByteArrayContent(request.ToByteArray());
            content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
            using var response = await http.PostAsync("/v1/metrics", content);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        MoveTo(to);
    }

    private void MoveTo(int step)
    {
        if (T0.AddSeconds(step * 10) > _time.GetUtcNow())
        {
            _time.SetUtcNow(T0.AddSeconds(step * 10));
        }
    }

    private static async Task<string?> StateAsync(VigilServer vigil, string tenant)
    {
        using var api = new VigilApi(vigil.HttpUri);
        var alerts = (await api.GetJsonAsync("/api/v1/alerts")).GetProperty("data").GetProperty("alerts").EnumerateArray();
        return alerts.Where(a => a.GetProperty("labels").GetProperty("tenant.id").GetString() == tenant).Select(a => a.GetProperty("state").GetString()).FirstOrDefault();
    }

    /// <summary>Waits, evaluation by evaluation (the fake clock's timers run them), until the tenant's alert is in <paramref name="state"/>.</summary>
    private static async Task WaitForStateAsync(VigilServer vigil, string tenant, string? state)
    {
        using var evaluated = new SemaphoreSlim(0);
        void OnEvaluated(GroupEvaluation _) => evaluated.Release();
        var manager = vigil.Services.GetRequiredService<RulesHost>().Manager;
        manager.Evaluated += OnEvaluated;
        try
        {
            // Subscribed before the first look, so an evaluation between a look and the wait is not missed.
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (await StateAsync(vigil, tenant) != state && DateTime.UtcNow < deadline)
            {
                await evaluated.WaitAsync(TimeSpan.FromSeconds(1));
            }
        }
        finally
        {
            manager.Evaluated -= OnEvaluated;
        }

        Assert.Equal(state, await StateAsync(vigil, tenant));
    }

    private async Task<(int Exit, string Output)> GateAsync(VigilServer vigil, params string[] args)
    {
        _out.GetStringBuilder().Clear();
        var exit = await GateCommand.RunAsync(["--server", vigil.HttpUri.ToString(), "--token", TestKeys.AdminToken, .. args], _out, _err);
        return (exit, _out.ToString());
    }

    [Fact]
    public async Task BacktestCli_PrintsEachTransitionAndTheSummary_OverTheWholeRetention()
    {
        await using var vigil = await StartAsync();
        await SendStepsAsync(vigil, 0, 48);
        var file = Path.Combine(_rulesDir, "checkout.yaml");

        var exit = await BacktestCommand.RunAsync([file, "--server", vigil.HttpUri.ToString(), "--token", TestKeys.AdminToken], _out, _err);

        // The group's slots sit at phase p in each 30 s. Pending at the first slot from 2:30 (4 failing buckets of 6),
        // firing 30 s later; resolved at the first slot from 4:20 (3 left): 1m firing when p >= 20 s, else 1m30s.
        var phase = RuleManager.EvaluationSlot(Group, TimeSpan.FromSeconds(30), T0.AddSeconds(29.999)) - T0;
        var pending = T0.AddSeconds(150) + phase;
        var resolved = phase >= TimeSpan.FromSeconds(20) ? T0.AddSeconds(240) + phase : T0.AddSeconds(270) + phase;
        var firing = resolved - pending.AddSeconds(30);
        var text = _out.ToString();
        Assert.True(exit == 0, text + _err);
        Assert.Contains("  {tenant.id=\"acme\"}", text, StringComparison.Ordinal);
        Assert.Contains($"    pending   {pending:HH:mm:ss}  30s", text, StringComparison.Ordinal);
        Assert.Contains($"    firing    {pending.AddSeconds(30):HH:mm:ss}  {PromDuration.Format(firing)}", text, StringComparison.Ordinal);
        Assert.Contains($"    resolved  {resolved:HH:mm:ss}", text, StringComparison.Ordinal);
        Assert.DoesNotContain("beta", text, StringComparison.Ordinal);

        // The whole retention by default: 1h less the 1m window, up to now (8:00 after T0).
        Assert.EndsWith($"CheckoutAuthFailures: 1 instance, fired 1 time, {PromDuration.Format(firing)} firing in 59m{Environment.NewLine}", text, StringComparison.Ordinal);

        // The loaded rule, named instead of sent, from 1:00 to 6:00: the same instants, in the API's shape.
        using var http = new HttpClient { BaseAddress = vigil.HttpUri };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TestKeys.AdminToken);
        using var loaded = await http.PostAsync($"/api/v1/rules/backtest?group=checkout&alert=CheckoutAuthFailures&from={T0.AddMinutes(1).ToUnixTimeSeconds()}&to={T0.AddMinutes(6).ToUnixTimeSeconds()}", null);
        var data = JsonDocument.Parse(await loaded.Content.ReadAsStringAsync()).RootElement.GetProperty("data");
        var rule = data.GetProperty("rules").EnumerateArray().Single();
        Assert.Equal(("checkout", "CheckoutAuthFailures", phase == TimeSpan.Zero ? 11 : 10), (rule.GetProperty("group").GetString(), rule.GetProperty("alert").GetString(), rule.GetProperty("evaluations").GetInt32()));
        var instance = rule.GetProperty("instances").EnumerateArray().Single();
        Assert.Equal("acme", instance.GetProperty("labels").GetProperty("tenant.id").GetString());
        var transitions = instance.GetProperty("transitions").EnumerateArray().ToList();
        Assert.Equal(
            [("inactive", "pending", pending), ("pending", "firing", pending.AddSeconds(30)), ("firing", "resolved", resolved)],
            transitions.Select(t => (t.GetProperty("from").GetString(), t.GetProperty("to").GetString(), t.GetProperty("at").GetDateTimeOffset())));

        // The failing share of the 6 buckets (steps 12..23 fail) in the window ending in the instant's bucket.
        static double Ratio(DateTimeOffset at)
        {
            var bucket = (int)((at - T0).TotalSeconds / 10);
            return Math.Max(0, Math.Min(bucket, 23) - Math.Max(bucket - 5, 12) + 1) / 6.0;
        }

        foreach (var t in transitions)
        {
            Assert.Equal(Ratio(t.GetProperty("at").GetDateTimeOffset()), t.GetProperty("value").GetDouble(), 9);
        }
    }

    [Fact]
    public void BacktestBudget_IsReadFromRules_AndOneThatCannotWorkIsReportedAtItsPlace()
    {
        var path = Path.Combine(Path.GetDirectoryName(_rulesDir)!, "vigil.yaml");
        File.WriteAllText(path, "rules:\n  backtest_max_evaluations: 0\n");
        var error = Assert.Throws<Vigil.Collector.Configuration.ConfigException>(() => Vigil.Collector.Configuration.ConfigLoader.Load(path, []));
        Assert.Equal($"{path}:2:29: rules.backtest_max_evaluations: must be at least 1", Assert.Single(error.Problems));

        File.WriteAllText(path, "rules:\n  backtest_max_evaluations: 5000\n");
        Assert.Equal(5000, Vigil.Collector.Configuration.ConfigLoader.Load(path, []).BacktestMaxEvaluations);
        Assert.Equal(100_000, new Vigil.Collector.Configuration.VigilOptions().BacktestMaxEvaluations);
    }

    [Fact]
    public async Task BacktestApi_BadFile_Is400WithTheProblemsOfRulesCheck_AndNeedsTheAdminToken()
    {
        await using var vigil = await StartAsync();
        using var http = new HttpClient { BaseAddress = vigil.HttpUri };
        using var anonymous = await http.PostAsync("/api/v1/rules/backtest", new StringContent(Rules, Encoding.UTF8, "application/yaml"));
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TestKeys.AdminToken);
        using var bad = await http.PostAsync("/api/v1/rules/backtest?file=bad.yaml", new StringContent(BadRules, Encoding.UTF8, "application/yaml"));
        using var early = await http.PostAsync($"/api/v1/rules/backtest?from={T0.AddHours(-2).ToUnixTimeSeconds()}", new StringContent(Rules, Encoding.UTF8, "application/yaml"));

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        var problems = JsonDocument.Parse(await bad.Content.ReadAsStringAsync()).RootElement.GetProperty("problems").EnumerateArray().Select(p => p.GetString()).ToList();
        Assert.Contains(problems, p => p!.StartsWith("bad.yaml:5:5: unknown field 'treshold'", StringComparison.Ordinal));
        var file = Path.Combine(_rulesDir, "..", "bad.yaml");
        await File.WriteAllTextAsync(file, BadRules);
        var check = new StringWriter();
        RulesCli.Check([file], check);
        var cli = await BacktestCommand.RunAsync([file, "--server", vigil.HttpUri.ToString(), "--token", TestKeys.AdminToken], _out, _err);
        Assert.Equal(1, cli);
        Assert.Equal(check.ToString(), _out.ToString());
        Assert.Equal(HttpStatusCode.BadRequest, early.StatusCode);
        var earlyBody = await early.Content.ReadAsStringAsync();
        Assert.True(earlyBody.Contains("beyond the retention", StringComparison.Ordinal), earlyBody);
    }

    [Fact]
    public async Task Gate_Passes_BlocksWhileAMatchingP1Fires_PassesAgainAfterQuietFor()
    {
        await using var vigil = await StartAsync();
        await SendStepsAsync(vigil, 0, 6);
        Assert.Equal((0, "pass: no P1 alert matching tenant.id=\"acme\" is firing or fired in the last 10m" + Environment.NewLine),
            await GateAsync(vigil, "--severity", "P1", "--match", "tenant.id=acme", "--quiet-for", "10m"));

        // acme fails from 2:00 to 4:00: firing by 4:00 even if live missed each slot's own bucket.
        await SendStepsAsync(vigil, 6, 24);
        await WaitForStateAsync(vigil, "acme", "firing");
        var (blocked, reasons) = await GateAsync(vigil, "--severity", "P1", "--match", "tenant.id=acme", "--quiet-for", "10m");
        Assert.Equal(1, blocked);
        Assert.StartsWith("blocked: 1 P1 alert(s) matching tenant.id=\"acme\" firing: CheckoutAuthFailures", reasons, StringComparison.Ordinal);
        Assert.Contains("  P1 CheckoutAuthFailures {tenant.id=acme} firing since", reasons, StringComparison.Ordinal);
        Assert.Equal(0, (await GateAsync(vigil, "--match", "tenant.id=beta", "--quiet-for", "10m")).Exit);
        Assert.Equal(1, (await GateAsync(vigil, "--severity", "P2", "--match", "tenant.id=acme")).Exit);

        // It resolves by 5:00. At 8:00 that is less than 10m ago, but more than 2m ago.
        await SendStepsAsync(vigil, 22, 48);
        await WaitForStateAsync(vigil, "acme", null);
        var (stillBlocked, resolvedReason) = await GateAsync(vigil, "--severity", "P1", "--match", "tenant.id=acme", "--quiet-for", "10m");
        Assert.Equal(1, stillBlocked);
        Assert.StartsWith("blocked: 0 P1 alert(s) matching tenant.id=\"acme\" firing, 1 resolved less than 10m ago", resolvedReason, StringComparison.Ordinal);
        Assert.Equal(0, (await GateAsync(vigil, "--match", "tenant.id=acme", "--quiet-for", "2m")).Exit);

        // 16:00: quiet for more than 10m.
        await SendStepsAsync(vigil, 48, 96);
        Assert.Equal(0, (await GateAsync(vigil, "--severity", "P1", "--match", "tenant.id=acme", "--quiet-for", "10m")).Exit);

        using var http = new HttpClient { BaseAddress = vigil.HttpUri };
        using var badSeverity = await http.GetAsync("/api/v1/gate?severity=P9");
        Assert.Equal(HttpStatusCode.BadRequest, badSeverity.StatusCode);
        Assert.Equal(2, (await GateAsync(vigil, "--severity", "P9")).Exit);
    }
}
