using System.Text;
using Vigil.Collector.Configuration;
using Vigil.Collector.Rules;
using Vigil.Collector.Security;
using Vigil.Query.Api;
using Vigil.Rules;
using Vigil.Rules.Api;
using Vigil.Rules.Backtest;
using Vigil.Storage;

namespace Vigil.Collector.Api;

/// <summary>
/// <c>POST /api/v1/rules/backtest</c>: replays a rule file (the body, YAML) or the loaded rules (<c>?group=G&amp;alert=A</c>)
/// over the window store with the live evaluator and state machine (docs/rules.md, decision 022). Admin-only: a file
/// is arbitrary input that costs CPU in proportion to what it asks.
/// </summary>
public static class BacktestEndpoints
{
    /// <summary>The API listener's body limit (Kestrel's, set in VigilApp): a rule file to backtest fits in it.</summary>
    private const long MaxBodyBytes = 1024 * 1024;

    public static void Map(IEndpointRouteBuilder app) =>
        app.MapPost("/api/v1/rules/backtest", Backtest).WithMetadata(new ListenerAttribute(Listeners.Http)).AdminOnly();

    private static async Task<IResult> Backtest(HttpRequest request, RulesHost rules, WindowStore store, VigilOptions options)
    {
        var query = request.Query;
        if (!TryTime(query["from"], "from", out var from, out var error) || !TryTime(query["to"], "to", out var to, out error))
        {
            return AggregateEndpoints.Error(error!);
        }

        var group = query["group"].ToString() is { Length: > 0 } g ? g : null;
        var alert = query["alert"].ToString() is { Length: > 0 } a ? a : null;
        if (request.ContentLength > MaxBodyBytes)
        {
            return AggregateEndpoints.Error($"the rule file is {request.ContentLength} bytes; a backtest takes at most {MaxBodyBytes} (1 MiB): send fewer rules", StatusCodes.Status413PayloadTooLarge);
        }

        string text;
        using (var reader = new StreamReader(request.Body, Encoding.UTF8))
        {
            text = await reader.ReadToEndAsync(request.HttpContext.RequestAborted);
        }

        var loaded = rules.Manager.Groups;
        var aggregates = AggregatesOf(loaded);
        IReadOnlyList<RuleGroup> groups;
        if (text.Trim().Length > 0)
        {
            var name = query["file"].ToString() is { Length: > 0 } f ? Path.GetFileName(f) : "backtest.yaml";
            var result = RuleFileLoader.Load(name, text, options.RuleLimits);
            var problems = result.Problems.Concat(RuleSetValidator.Validate([result.File], store)).Distinct()
                .OrderBy(p => p.Line).ThenBy(p => p.Column).ToList();
            if (problems.Count > 0)
            {
                return Results.Json(
                    new { status = "error", errorType = "bad_data", error = string.Join(Environment.NewLine, problems), problems = problems.Select(p => p.ToString()) },
                    statusCode: StatusCodes.Status400BadRequest);
            }

            groups = result.File.Groups;
            foreach (var aggregate in groups.SelectMany(x => x.Aggregates))
            {
                aggregates[aggregate.Record] = aggregate;
            }
        }
        else
        {
            groups = loaded;
        }

        if (group is not null)
        {
            groups = [.. groups.Where(x => x.Name == group)];
            if (groups.Count == 0)
            {
                return AggregateEndpoints.Error($"no rule group '{group}' to backtest; GET /api/v1/rules lists the loaded ones", StatusCodes.Status404NotFound);
            }
        }

        var bounds = new BacktestBounds(store.Now, store.Options.Retention, store.Options.Resolution, options.BacktestMaxEvaluations, rules.ResolvedRetention);
        var outcome = new RuleBacktester(store).Run(groups, aggregates, from, to, alert, bounds, request.HttpContext.RequestAborted);
        return outcome.Result is { } replay
            ? Results.Json(ApiResponse.Success(replay))
            : AggregateEndpoints.Error(outcome.Refusal!);
    }

    private static Dictionary<string, AggregateRule> AggregatesOf(IEnumerable<RuleGroup> groups)
    {
        var aggregates = new Dictionary<string, AggregateRule>(StringComparer.Ordinal);
        foreach (var aggregate in groups.SelectMany(g => g.Aggregates))
        {
            aggregates.TryAdd(aggregate.Record, aggregate);
        }

        return aggregates;
    }

    /// <summary>An optional time parameter, RFC 3339 or unix seconds, parsed as every query API parses it.</summary>
    internal static bool TryTime(string? text, string name, out DateTimeOffset? time, out string? error)
    {
        time = null;
        error = null;
        if (string.IsNullOrEmpty(text))
        {
            return true;
        }

        if (!PromApi.TryParseTime(text, out var parsed, out var problem))
        {
            error = $"parameter '{name}': {problem}; write RFC 3339 (2026-11-26T10:00:00Z) or unix seconds";
            return false;
        }

        time = parsed;
        return true;
    }
}
