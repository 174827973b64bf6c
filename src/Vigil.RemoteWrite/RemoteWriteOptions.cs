using Vigil.Query;
using Vigil.Query.Parsing;
using Vigil.Storage;
using Vigil.Storage.Query;

namespace Vigil.RemoteWrite;

/// <summary>
/// One entry of <c>remote_write:</c> in vigil.yaml: where to send, what, and how the queue behaves. Plain settable
/// properties so the YAML binder fills them; <see cref="Validate"/> returns every problem with its config path.
/// </summary>
public sealed record RemoteWriteOptions
{
    public const string Section = "remote_write";

    /// <summary>What <see cref="Send"/> may list: recording-rule outputs with ALERTS / ALERTS_FOR_STATE, and every stored series.</summary>
    public const string Aggregates = "aggregates";

    public const string Series = "series";

    /// <summary>The receiver's write endpoint, e.g. http://127.0.0.1:8428/api/v1/write (VictoriaMetrics) or .../api/v1/write (Prometheus).</summary>
    public string Url { get; set; } = string.Empty;

    /// <summary>Names the queue in metrics, logs and its cursor; defaults to the URL. Renaming a queue starts it afresh.</summary>
    public string Name { get; set; } = string.Empty;

    /// <summary>Extra request headers (e.g. X-Scope-OrgID for Mimir).</summary>
    public Dictionary<string, string> Headers { get; set; } = [];

    /// <summary>Sent as <c>Authorization: Bearer …</c>; never logged.</summary>
    public string BearerToken { get; set; } = string.Empty;

    /// <summary><c>aggregates</c> and/or <c>series</c>.</summary>
    public List<string> Send { get; set; } = [Aggregates];

    /// <summary>Series selectors in Prometheus names (<c>ai_runs_total{tenant_id="acme"}</c>, <c>{__name__=~"ALERTS.*"}</c>); a sample goes when it matches any. Empty = all.</summary>
    public List<string> Match { get; set; } = [];

    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>A bucket is sent this long after it ends, so points that arrive a little late are in it.</summary>
    public TimeSpan SeriesDelay { get; set; } = TimeSpan.FromSeconds(10);

    public RemoteWriteQueueOptions Queue { get; set; } = new();

    /// <summary>The queue's name: <see cref="Name"/>, or the URL.</summary>
    public string QueueName => string.IsNullOrWhiteSpace(Name) ? Url : Name;

    public bool SendsAggregates => Send.Contains(Aggregates, StringComparer.Ordinal);

    public bool SendsSeries => Send.Contains(Series, StringComparer.Ordinal);

    /// <summary>The parsed <see cref="Match"/> selectors (call after <see cref="Validate"/> found nothing).</summary>
    public IReadOnlyList<IReadOnlyList<LabelMatcher>> Selectors() => [.. Match.Select(m => Parser.ParseSelector(m).Matchers)];

    public IReadOnlyList<string> Validate(string path)
    {
        var problems = new List<string>();
        if (!Uri.TryCreate(Url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            problems.Add($"{path}.url: '{Url}' is not an absolute http(s) URL (e.g. http://127.0.0.1:8428/api/v1/write)");
        }

        if (Send.Count == 0)
        {
            problems.Add($"{path}.send: list what to send: [{Aggregates}], [{Series}] or both");
        }

        for (var i = 0; i < Send.Count; i++)
        {
            if (Send[i] is not (Aggregates or Series))
            {
                problems.Add($"{path}.send[{i}]: '{Send[i]}' is not {Aggregates} or {Series}");
            }
        }

        for (var i = 0; i < Match.Count; i++)
        {
            try
            {
                Parser.ParseSelector(Match[i]);
            }
            catch (PromQLException e)
            {
                problems.Add($"{path}.match[{i}]: '{Match[i]}' is not a series selector: {e.Message}");
            }
        }

        foreach (var name in Headers.Keys)
        {
            if (ReservedHeaders.Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                problems.Add($"{path}.headers.{name}: set by Vigil for remote write; remove it");
            }
            else if (name.Equals("Authorization", StringComparison.OrdinalIgnoreCase) && BearerToken.Length > 0)
            {
                problems.Add($"{path}.headers.{name}: give either bearer_token or an Authorization header, not both");
            }
        }

        if (Timeout <= TimeSpan.Zero || Timeout > TimeSpan.FromMinutes(10))
        {
            problems.Add($"{path}.timeout: must be positive, at most 10m (got {Timeout})");
        }

        if (SeriesDelay < TimeSpan.Zero || SeriesDelay > TimeSpan.FromHours(1))
        {
            problems.Add($"{path}.series_delay: must be from 0s to 1h (got {SeriesDelay})");
        }

        problems.AddRange(Queue.Validate($"{path}.queue"));
        return problems;
    }

    /// <summary>Every entry's problems, and queue names that repeat (each queue keeps its own cursor by name).</summary>
    public static IReadOnlyList<string> ValidateAll(IReadOnlyList<RemoteWriteOptions> remotes)
    {
        var problems = new List<string>();
        var names = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < remotes.Count; i++)
        {
            problems.AddRange(remotes[i].Validate($"{Section}[{i}]"));
            if (!names.TryAdd(remotes[i].QueueName, i))
            {
                problems.Add($"{Section}[{i}]: queue '{remotes[i].QueueName}' is already configured at {Section}[{names[remotes[i].QueueName]}]; give one of them a distinct name");
            }
        }

        return problems;
    }

    private static readonly string[] ReservedHeaders = ["Content-Encoding", "Content-Type", "X-Prometheus-Remote-Write-Version", "User-Agent", "Content-Length"];
}

/// <summary>The queue of one remote: batch size and deadline, retry backoff, and how old data may get before it is dropped.</summary>
public sealed record RemoteWriteQueueOptions
{
    /// <summary>Samples per request at most.</summary>
    public int MaxSamplesPerSend { get; set; } = 2000;

    /// <summary>How long a queue with nothing to send waits before it looks again (new aggregates wake it at once).</summary>
    public TimeSpan BatchSendDeadline { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The first retry waits this long; each next one twice as long, up to <see cref="MaxBackoff"/>. Retry-After wins when given.</summary>
    public TimeSpan MinBackoff { get; set; } = TimeSpan.FromMilliseconds(30);

    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Samples older than this are dropped (and counted as failed) instead of retried or sent; also how far back a new queue starts.</summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Requests of one bucket in flight at once. A series is always in one request per bucket, so its order holds.</summary>
    public int Shards { get; set; } = 1;

    public IReadOnlyList<string> Validate(string path)
    {
        var problems = new List<string>();
        if (MaxSamplesPerSend is < 1 or > 100_000)
        {
            problems.Add($"{path}.max_samples_per_send: must be between 1 and 100000 (got {MaxSamplesPerSend})");
        }

        if (Shards is < 1 or > 64)
        {
            problems.Add($"{path}.shards: must be between 1 and 64 (got {Shards})");
        }

        // Upper bounds keep timers (about 49 days at most) and "now - max_age" in range.
        foreach (var (name, value, max) in new[] { ("batch_send_deadline", BatchSendDeadline, TimeSpan.FromHours(1)), ("min_backoff", MinBackoff, TimeSpan.FromDays(1)), ("max_backoff", MaxBackoff, TimeSpan.FromDays(1)), ("max_age", MaxAge, TimeSpan.FromDays(30)) })
        {
            if (value <= TimeSpan.Zero || value > max)
            {
                problems.Add($"{path}.{name}: must be positive, at most {DurationFormat.Format(max)} (got {value})");
            }
        }

        if (MaxBackoff < MinBackoff)
        {
            problems.Add($"{path}.max_backoff: {MaxBackoff} is shorter than min_backoff {MinBackoff}");
        }

        return problems;
    }
}
