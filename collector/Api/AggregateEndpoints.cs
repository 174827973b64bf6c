using System.Globalization;
using System.Text.RegularExpressions;
using Vigil.Collector.Security;
using Vigil.Query;
using Vigil.Query.Api;
using Vigil.Storage;
using Vigil.Storage.Query;

namespace Vigil.Collector.Api;

/// <summary>
/// <c>GET /api/v1/aggregate</c> and <c>GET /api/v1/series</c>: the window store as rules see it.
/// Errors use Prometheus' error shape so the same clients can read both.
/// </summary>
public static class AggregateEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/aggregate", Aggregate).WithMetadata(new ListenerAttribute(Listeners.Http)).ReadScoped();
        app.MapGet("/api/v1/series", Series).WithMetadata(new ListenerAttribute(Listeners.Http)).ReadScoped();
    }

    public static IResult Error(string message, int status = StatusCodes.Status400BadRequest) =>
        Results.Json(new { status = "error", errorType = ErrorType(status), error = message }, statusCode: status);

    // Prometheus' errorType for each status this API answers with.
    private static string ErrorType(int status) => status switch
    {
        StatusCodes.Status400BadRequest => "bad_data",
        StatusCodes.Status422UnprocessableEntity => "execution",
        _ => "internal",
    };

    private static IResult Aggregate(HttpRequest request, WindowStore store)
    {
        AggregateQuery? query = null;
        try
        {
            query = ParseQuery(request.Query, store.Now);
            var results = ReadScope.Of(request.HttpContext).Reader(store).Aggregate(query);
            return Results.Json(new
            {
                status = "success",
                data = results.Select(r => new { labels = r.Labels, value = r.Value, samples = r.Samples }),
            });
        }
        catch (RegexTimeoutException e)
        {
            return Error($"parameter 'match': {e.Message}", StatusCodes.Status422UnprocessableEntity);
        }
        catch (QueryException e)
        {
            return Error(e.Message);
        }
        catch (RegexMatchTimeoutException e)
        {
            return Error($"parameter 'match': {RegexTimeout.Describe(e, query?.Matchers ?? [])}", StatusCodes.Status422UnprocessableEntity);
        }
    }

    private static async Task<IResult> Series(HttpRequest request, WindowStore store, Vigil.Query.PromQueryEngine engine)
    {
        var scope = ReadScope.Of(request.HttpContext);
        if (PrometheusEndpoints.IsPrometheusSeriesRequest(request))
        {
            return await PrometheusEndpoints.Series(request, scope.Engine(engine));
        }

        var metric = request.Query["metric"].ToString();
        var series = scope.Reader(store).ListSeries(string.IsNullOrEmpty(metric) ? null : metric);
        return Results.Json(new
        {
            status = "success",
            data = series.Select(s => new { metric = s.Metric, kind = s.Kind.ToDisplay(), unit = s.Unit, labels = s.Labels }),
        });
    }

    internal static AggregateQuery ParseQuery(IQueryCollection query, DateTimeOffset now)
    {
        var metric = query["metric"].ToString();
        if (string.IsNullOrWhiteSpace(metric))
        {
            throw new QueryException("missing parameter 'metric' (e.g. metric=auth.requests)");
        }

        var fnText = query["fn"].ToString();
        if (!Enum.TryParse<AggregateFunction>(fnText, ignoreCase: true, out var fn) || !Enum.IsDefined(fn) || int.TryParse(fnText, out _))
        {
            throw new QueryException($"parameter 'fn': '{fnText}' is not one of increase, rate, sum, avg, min, max, last, count, quantile");
        }

        var windowText = query["window"].ToString();
        var window = TimeSpan.FromMinutes(5);
        if (!string.IsNullOrEmpty(windowText) && !DurationFormat.TryParse(windowText, out window))
        {
            throw new QueryException($"parameter 'window': '{windowText}' is not a duration; write e.g. 30s, 5m, 1h");
        }

        var by = query["by"].ToString().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var matchers = new List<LabelMatcher>();
        foreach (var text in query["match"])
        {
            matchers.Add(ParseMatcher(text ?? string.Empty));
        }

        var q = 0.5;
        var qText = query["q"].ToString();
        if (fn == AggregateFunction.Quantile)
        {
            if (!double.TryParse(qText, NumberStyles.Float, CultureInfo.InvariantCulture, out q))
            {
                throw new QueryException($"parameter 'q': quantile needs q between 0 and 1 (got '{qText}')");
            }
        }

        var at = now;
        var atText = query["at"].ToString();
        if (!string.IsNullOrEmpty(atText) && !PromApi.TryParseTime(atText, out at, out var problem))
        {
            var parseable = double.TryParse(atText, NumberStyles.Float, CultureInfo.InvariantCulture, out _)
                || DateTimeOffset.TryParse(atText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out _);
            throw new QueryException(parseable
                ? $"parameter 'at': {problem}"
                : $"parameter 'at': '{atText}' is neither RFC 3339 (2026-11-26T10:00:00Z) nor unix seconds");
        }

        return new AggregateQuery(metric, fn, window, by, matchers, at, q);
    }

    /// <summary>Parses <c>attr=value</c>, <c>attr!=value</c>, <c>attr=~regex</c>, <c>attr!~regex</c> (value optionally quoted).</summary>
    internal static LabelMatcher ParseMatcher(string text)
    {
        var ops = new (string Token, MatchOp Op)[] { ("!=", MatchOp.NotEqual), ("=~", MatchOp.Regex), ("!~", MatchOp.NotRegex), ("=", MatchOp.Equal) };
        var best = -1;
        var bestOp = MatchOp.Equal;
        var bestLength = 0;
        foreach (var (token, op) in ops)
        {
            var index = text.IndexOf(token, StringComparison.Ordinal);
            if (index > 0 && (best < 0 || index < best || (index == best && token.Length > bestLength)))
            {
                best = index;
                bestOp = op;
                bestLength = token.Length;
            }
        }

        if (best <= 0)
        {
            throw new QueryException($"parameter 'match': '{text}' is not attr=value, attr!=value, attr=~regex or attr!~regex");
        }

        var name = text[..best].Trim();
        var value = text[(best + bestLength)..].Trim();
        if (value.Length >= 2 && value[0] == '"' && value[^1] == '"')
        {
            value = value[1..^1];
        }

        try
        {
            return new LabelMatcher(name, bestOp, value);
        }
        catch (ArgumentException e)
        {
            throw new QueryException($"parameter 'match': regex '{value}' does not compile: {e.Message}");
        }
    }
}
