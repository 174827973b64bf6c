using System.Diagnostics.Metrics;
using System.Reflection;
using System.Text;
using Microsoft.Extensions.Primitives;
using Vigil.Collector.Configuration;
using Vigil.Collector.Rules;
using Vigil.Collector.Security;
using Vigil.Query;
using Vigil.Query.Api;
using Vigil.Query.Exposition;
using Vigil.Rules;
using Vigil.Storage;

namespace Vigil.Collector.Api;

/// <summary>
/// Vigil as a Prometheus data source (DESIGN §9): <c>GET /metrics</c> (text 0.0.4 or OpenMetrics by Accept) and the
/// query API Grafana calls — query, query_range (GET and form POST), series with <c>match[]</c>, labels, label values,
/// metadata, buildinfo, <c>/federate</c> and the per-tenant status. Errors use Prometheus' shape. The PromQL subset is in docs/query.md.
/// </summary>
public static class PrometheusEndpoints
{
    private static readonly string VigilVersion =
        typeof(PrometheusEndpoints).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    /// <summary>
    /// The query engine and the /metrics sources: the self-metrics (every instrument on this host's "Vigil" meters, the
    /// ones the OTLP self-export reads) and the rule engine (ALERTS and recorded aggregates of the RulesHost's manager,
    /// when rules run).
    /// </summary>
    public static void AddServices(IServiceCollection services, VigilOptions options, TimeProvider time)
    {
        services.AddSingleton(sp =>
        {
            // By factory: other hosts in the same process (tests) have "Vigil" meters of their own.
            var factory = sp.GetRequiredService<IMeterFactory>();
            return new MeterExpositionSource(meter => meter.Name == VigilMetrics.MeterName && ReferenceEquals(meter.Scope, factory));
        });
        services.AddSingleton<IExpositionSource>(sp => sp.GetRequiredService<MeterExpositionSource>());
        services.AddSingleton<IExpositionSource>(sp => RulesExpositionSource.For(() => sp.GetService<RuleManager>() ?? sp.GetService<RulesHost>()?.Manager));
        services.AddSingleton(sp => new PromQueryEngine(
            sp.GetRequiredService<WindowStore>(), PromQueryOptions.From(options.Storage), time, sp.GetServices<IExpositionSource>()));
    }

    public static void Map(IEndpointRouteBuilder app)
    {
        var http = new ListenerAttribute(Listeners.Http);
        app.MapGet("/metrics", Metrics).WithMetadata(http).ReadScoped();
        app.MapMethods("/api/v1/query", ["GET", "POST"], Query).WithMetadata(http).ReadScoped();
        app.MapMethods("/api/v1/query_range", ["GET", "POST"], QueryRange).WithMetadata(http).ReadScoped();
        app.MapPost("/api/v1/series", SeriesScoped).WithMetadata(http).ReadScoped();
        app.MapMethods("/api/v1/labels", ["GET", "POST"], LabelNames).WithMetadata(http).ReadScoped();
        app.MapGet("/api/v1/label/{name}/values", LabelValues).WithMetadata(http).ReadScoped();
        app.MapGet("/api/v1/metadata", Metadata).WithMetadata(http).ReadScoped();
        app.MapGet("/api/v1/status/buildinfo", BuildInfo).WithMetadata(http).Public();
        app.MapMethods("/api/v1/query_exemplars", ["GET", "POST"], QueryExemplars).WithMetadata(http).ReadScoped();
        app.MapMethods("/api/v1/format_query", ["GET", "POST"], FormatQuery).WithMetadata(http).ReadScoped();
        app.MapGet("/api/v1/status/tenants", Tenants).WithMetadata(http).ReadScoped();
        app.MapGet("/federate", Federate).WithMetadata(http).ReadScoped();
    }

    /// <summary>True when <c>/api/v1/series</c> is a Prometheus request (Grafana sends <c>match[]</c>).</summary>
    public static bool IsPrometheusSeriesRequest(HttpRequest request) => request.Query.ContainsKey("match[]");

    private static Task<IResult> SeriesScoped(HttpRequest request, PromQueryEngine engine) =>
        Series(request, ReadScope.Of(request.HttpContext).Engine(engine));

    /// <summary><c>/api/v1/series</c> in Prometheus' shape: label sets with <c>__name__</c>, over an engine already scoped to the reader's tenant.</summary>
    public static async Task<IResult> Series(HttpRequest request, PromQueryEngine engine)
    {
        var parameters = await ParametersAsync(request);
        var matches = Values(parameters, "match[]");
        if (matches.Count == 0)
        {
            return Error(PromQLException.BadData, "no match[] parameter provided");
        }

        return Answer(() => PromApi.LabelSetsJson(PromApi.Series(engine, matches)));
    }

    private static IResult Metrics(HttpRequest request, IEnumerable<IExpositionSource> sources)
    {
        var format = ExpositionWriter.Negotiate(request.Headers.Accept.ToString());
        var text = ExpositionWriter.Write(ReadScope.Of(request.HttpContext).Families(sources.SelectMany(s => s.Collect())), format);
        return Results.Text(text, ExpositionWriter.ContentType(format));
    }

    private static async Task<IResult> Query(HttpRequest request, PromQueryEngine engine, TimeProvider time)
    {
        engine = ReadScope.Of(request.HttpContext).Engine(engine);
        var parameters = await ParametersAsync(request);
        return Answer(() =>
        {
            var query = Required(parameters, "query");
            var at = PromApi.ParseTime(Value(parameters, "time"), "time", time.GetUtcNow());
            return PromApi.InstantJson(engine.Query(query, at));
        });
    }

    private static async Task<IResult> QueryRange(HttpRequest request, PromQueryEngine engine)
    {
        engine = ReadScope.Of(request.HttpContext).Engine(engine);
        var parameters = await ParametersAsync(request);
        return Answer(() =>
        {
            var query = Required(parameters, "query");
            var start = PromApi.ParseTime(Required(parameters, "start"), "start", default);
            var end = PromApi.ParseTime(Required(parameters, "end"), "end", default);
            var step = PromApi.ParseDuration(Required(parameters, "step"), "step");
            return PromApi.RangeJson(engine.QueryRange(query, start, end, step));
        });
    }

    private static async Task<IResult> LabelNames(HttpRequest request, PromQueryEngine engine)
    {
        engine = ReadScope.Of(request.HttpContext).Engine(engine);
        var parameters = await ParametersAsync(request);
        return Answer(() => PromApi.StringsJson(PromApi.LabelNames(engine, Values(parameters, "match[]"))));
    }

    private static IResult LabelValues(string name, HttpRequest request, PromQueryEngine engine) =>
        Answer(() => PromApi.StringsJson(PromApi.LabelValues(ReadScope.Of(request.HttpContext).Engine(engine), name, Values(request.Query, "match[]"))));

    private static IResult Metadata(HttpRequest request, PromQueryEngine engine)
    {
        engine = ReadScope.Of(request.HttpContext).Engine(engine);
        var metric = request.Query["metric"].ToString();
        var limitText = request.Query["limit"].ToString();
        var limit = -1;
        if (limitText.Length > 0 && !int.TryParse(limitText, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out limit))
        {
            return Error(PromQLException.BadData, $"invalid parameter \"limit\": \"{limitText}\" is not a whole number");
        }

        return Answer(() => PromApi.MetadataJson(PromApi.Metadata(engine, metric.Length == 0 ? null : metric, limit)));
    }

    /// <summary>Series and traffic per tenant, most series first, for moving tenants between shards; a tenant's read key sees its own line.</summary>
    private static IResult Tenants(HttpRequest request, WindowStore store)
    {
        var scope = ReadScope.Of(request.HttpContext);
        var tenants = store.TenantStatus().Where(t => scope.IsEverything || t.Tenant == scope.Tenant);
        return Results.Bytes(PromApi.TenantsJson(tenants), "application/json");
    }

    /// <summary>Prometheus' federation contract; errors are plain text, as Prometheus answers them.</summary>
    private static IResult Federate(HttpRequest request, PromQueryEngine engine, TimeProvider time)
    {
        engine = ReadScope.Of(request.HttpContext).Engine(engine);
        try
        {
            return Results.Text(PromApi.FederateText(engine, Values(request.Query, "match[]"), time.GetUtcNow()), ExpositionWriter.PrometheusTextContentType);
        }
        catch (PromQLException e)
        {
            var status = PromQLException.StatusOf(e.ErrorType);
            return Results.Text(e.Message + "\n", "text/plain; charset=utf-8", Encoding.UTF8, status);
        }
    }

    /// <summary>
    /// Vigil keeps no exemplars, so the answer is always empty, as Prometheus' is for data without any; the query and
    /// times are still checked, so Grafana's exemplar toggle shows the same errors as the query.
    /// </summary>
    private static async Task<IResult> QueryExemplars(HttpRequest request, TimeProvider time)
    {
        var parameters = await ParametersAsync(request);
        return Answer(() =>
        {
            Vigil.Query.Parsing.Parser.Parse(Required(parameters, "query"));
            var start = PromApi.ParseTime(Value(parameters, "start"), "start", DateTimeOffset.UnixEpoch);
            var end = PromApi.ParseTime(Value(parameters, "end"), "end", time.GetUtcNow());
            if (end < start)
            {
                throw new PromQLException("invalid parameter \"end\": end timestamp must not be before start time");
            }

            return System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new { status = "success", data = Array.Empty<object>() });
        });
    }

    /// <summary>The query as Vigil reads it back (its canonical printing), for Grafana's "format query" button.</summary>
    private static async Task<IResult> FormatQuery(HttpRequest request)
    {
        var parameters = await ParametersAsync(request);
        return Answer(() => System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new
        {
            status = "success",
            data = Vigil.Query.Parsing.Parser.Parse(Required(parameters, "query")).ToString(),
        }));
    }

    private static IResult BuildInfo() => Results.Bytes(PromApi.BuildInfoJson(VigilVersion), "application/json");

    private static IResult Answer(Func<byte[]> json)
    {
        try
        {
            return Results.Bytes(json(), "application/json");
        }
        catch (PromQLException e)
        {
            return Error(e.ErrorType, e.Message);
        }
    }

    /// <summary>Prometheus' statuses: 400 for bad_data, 422 for a query that failed while executing, 503 for a timeout.</summary>
    private static IResult Error(string errorType, string message) =>
        Results.Text(
            Encoding.UTF8.GetString(PromApi.ErrorJson(errorType, message)),
            "application/json",
            Encoding.UTF8,
            PromQLException.StatusOf(errorType));

    /// <summary>Query string and, for form POSTs (Grafana's default), the form body.</summary>
    private static async Task<Dictionary<string, StringValues>> ParametersAsync(HttpRequest request)
    {
        var parameters = new Dictionary<string, StringValues>(StringComparer.Ordinal);
        foreach (var (key, value) in request.Query)
        {
            parameters[key] = value;
        }

        if (HttpMethods.IsPost(request.Method) && request.HasFormContentType)
        {
            var form = await request.ReadFormAsync(request.HttpContext.RequestAborted);
            foreach (var (key, value) in form)
            {
                parameters[key] = parameters.TryGetValue(key, out var existing) ? StringValues.Concat(existing, value) : value;
            }
        }

        return parameters;
    }

    private static string? Value(Dictionary<string, StringValues> parameters, string name) =>
        parameters.TryGetValue(name, out var value) && value.Count > 0 ? value[^1] : null;

    private static string Required(Dictionary<string, StringValues> parameters, string name) =>
        Value(parameters, name) is { Length: > 0 } value ? value : throw new PromQLException($"invalid parameter \"{name}\": missing");

    private static List<string> Values(Dictionary<string, StringValues> parameters, string name) =>
        parameters.TryGetValue(name, out var values) ? [.. values.OfType<string>()] : [];

    private static List<string> Values(IQueryCollection query, string name) => [.. query[name].OfType<string>()];
}
