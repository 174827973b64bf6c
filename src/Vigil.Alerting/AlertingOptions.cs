using Vigil.Rules;
using Vigil.Storage;

namespace Vigil.Alerting;

/// <summary>
/// The <c>alerting:</c> section of vigil.yaml. Plain settable properties so the Options pattern can bind it;
/// <see cref="Validate"/> returns every problem with its config path (<c>alerting.webhooks[1].url: ...</c>).
/// </summary>
public sealed record AlertingOptions
{
    public const string Section = "alerting";

    /// <summary>Vigil's externally reachable base URL, used for generatorURL and the webhook externalURL.</summary>
    public string ExternalUrl { get; set; } = "http://localhost:9190";

    public List<AlertmanagerOptions> Alertmanagers { get; set; } = [];

    public List<WebhookOptions> Webhooks { get; set; } = [];

    public List<OtlpLogsOptions> OtlpLogs { get; set; } = [];

    /// <summary>How often every firing alert is re-sent to each Alertmanager (Prometheus' default: 1m).</summary>
    public TimeSpan ResendInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The longest rule-group evaluation interval; firing alerts sent to Alertmanager stay valid for 4 × max(resend, evaluation).</summary>
    public TimeSpan EvaluationInterval { get; set; } = TimeSpan.FromMinutes(1);

    public RetryOptions Retry { get; set; } = new();

    /// <summary>Finished events (every delivery delivered or expired) older than this are pruned from the history.</summary>
    public TimeSpan HistoryRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Events buffered per live-stream subscriber; a slower subscriber loses the oldest (counted).</summary>
    public int StreamBuffer { get; set; } = 256;

    /// <summary>Events per delivery request.</summary>
    public int BatchSize { get; set; } = 64;

    /// <summary>Options for <c>vigil --alertmanager URL [--alertmanager URL…]</c>: one Alertmanager receiver per flag.</summary>
    public static AlertingOptions FromAlertmanagerUrls(IEnumerable<string> urls, string? externalUrl = null)
    {
        var options = new AlertingOptions();
        if (externalUrl is not null)
        {
            options.ExternalUrl = externalUrl;
        }

        options.Alertmanagers.AddRange(urls.Select(u => new AlertmanagerOptions { Url = u }));
        return options;
    }

    /// <summary>Firing alerts sent to Alertmanager end this long after each send unless re-sent (Prometheus' rule).</summary>
    public TimeSpan AlertmanagerValidity => 4 * (ResendInterval > EvaluationInterval ? ResendInterval : EvaluationInterval);

    public IReadOnlyList<string> Validate(string path = Section)
    {
        var problems = new List<string>();
        if (!OptionChecks.IsHttpUrl(ExternalUrl))
        {
            problems.Add($"{path}.external_url: '{ExternalUrl}' is not an absolute http(s) URL; set the URL users reach Vigil's API at, e.g. https://vigil.example.com");
        }

        OptionChecks.Positive(problems, $"{path}.resend_interval", ResendInterval, TimeSpan.FromDays(1));
        OptionChecks.Positive(problems, $"{path}.evaluation_interval", EvaluationInterval, TimeSpan.FromDays(1));
        OptionChecks.Positive(problems, $"{path}.history_retention", HistoryRetention, TimeSpan.FromDays(365));
        if (StreamBuffer is < 1 or > 100_000)
        {
            problems.Add($"{path}.stream_buffer: must be from 1 to 100000 (got {StreamBuffer})");
        }

        if (BatchSize is < 1 or > 10_000)
        {
            problems.Add($"{path}.batch_size: must be from 1 to 10000 (got {BatchSize})");
        }

        problems.AddRange(Retry.Validate($"{path}.retry"));
        for (var i = 0; i < Alertmanagers.Count; i++)
        {
            problems.AddRange(Alertmanagers[i].Validate($"{path}.alertmanagers[{i}]"));
        }

        for (var i = 0; i < Webhooks.Count; i++)
        {
            problems.AddRange(Webhooks[i].Validate($"{path}.webhooks[{i}]"));
        }

        for (var i = 0; i < OtlpLogs.Count; i++)
        {
            problems.AddRange(OtlpLogs[i].Validate($"{path}.otlp_logs[{i}]"));
        }

        // Delivery rows are keyed by receiver name, so two receivers with one name would share (and steal) rows.
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        void Unique(string name, string at)
        {
            if (!names.TryAdd(name, at))
            {
                problems.Add($"{at}: receiver '{name}' is already configured at {names[name]}; each receiver must be unique");
            }
        }

        for (var i = 0; i < Alertmanagers.Count; i++)
        {
            Unique(Alertmanagers[i].ReceiverName, $"{path}.alertmanagers[{i}]");
        }

        for (var i = 0; i < Webhooks.Count; i++)
        {
            Unique(Webhooks[i].ReceiverName, $"{path}.webhooks[{i}].name");
        }

        for (var i = 0; i < OtlpLogs.Count; i++)
        {
            Unique(OtlpLogs[i].ReceiverName, $"{path}.otlp_logs[{i}]");
        }

        return problems;
    }
}

public sealed record RetryOptions
{
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>A delivery not done this long after the event was recorded is given up (expired).</summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Each backoff is scaled by a random factor in [1 − jitter, 1 + jitter] so receivers coming back are not stampeded.</summary>
    public double Jitter { get; set; } = 0.2;

    public IReadOnlyList<string> Validate(string path)
    {
        var problems = new List<string>();
        OptionChecks.Positive(problems, $"{path}.initial_backoff", InitialBackoff, TimeSpan.FromDays(1));
        OptionChecks.Positive(problems, $"{path}.max_backoff", MaxBackoff, TimeSpan.FromDays(1));
        OptionChecks.Positive(problems, $"{path}.max_age", MaxAge, TimeSpan.FromDays(30));
        if (MaxBackoff < InitialBackoff)
        {
            problems.Add($"{path}.max_backoff: {MaxBackoff} is shorter than initial_backoff {InitialBackoff}");
        }

        if (Jitter is < 0 or >= 1 || double.IsNaN(Jitter))
        {
            problems.Add($"{path}.jitter: must be in [0, 1) (got {Jitter})");
        }

        return problems;
    }
}

public sealed record AlertmanagerOptions
{
    /// <summary>Alertmanager's base URL; alerts go to <c>{url}/api/v2/alerts</c>.</summary>
    public string Url { get; set; } = string.Empty;

    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Only these severities are sent (P1..P4); empty = all.</summary>
    public List<string> Severities { get; set; } = [];

    public string ReceiverName => $"alertmanager:{Url.TrimEnd('/')}";

    public IReadOnlyList<string> Validate(string path)
    {
        var problems = new List<string>();
        if (!OptionChecks.IsHttpUrl(Url))
        {
            problems.Add($"{path}.url: '{Url}' is not an absolute http(s) URL (e.g. http://alertmanager:9093)");
        }

        OptionChecks.Positive(problems, $"{path}.timeout", Timeout, OptionChecks.MaxTimeout);
        OptionChecks.Severities(problems, $"{path}.severities", Severities);
        return problems;
    }
}

public sealed record WebhookOptions
{
    /// <summary>Names the receiver in the body, in delivery history and in metrics.</summary>
    public string Name { get; set; } = string.Empty;

    public string Url { get; set; } = string.Empty;

    /// <summary>HMAC-SHA256 key for <c>X-Vigil-Signature</c>.</summary>
    public string Secret { get; set; } = string.Empty;

    /// <summary>Only these severities are sent (P1..P4); empty = all.</summary>
    public List<string> Severities { get; set; } = [];

    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    public string ReceiverName => $"webhook:{Name}";

    public IReadOnlyList<string> Validate(string path)
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(Name))
        {
            problems.Add($"{path}.name: required; it names the receiver in history and metrics");
        }

        if (!OptionChecks.IsHttpUrl(Url))
        {
            problems.Add($"{path}.url: '{Url}' is not an absolute http(s) URL");
        }

        if (Secret.Length < OptionChecks.MinSecretLength)
        {
            problems.Add($"{path}.secret: required, at least 16 characters (got {Secret.Length}); receivers verify X-Vigil-Signature with it");
        }

        OptionChecks.Positive(problems, $"{path}.timeout", Timeout, OptionChecks.MaxTimeout);
        OptionChecks.Severities(problems, $"{path}.severities", Severities);
        return problems;
    }
}

public sealed record OtlpLogsOptions
{
    /// <summary>Base URL of the OTLP receiver, e.g. http://otel-collector:4317 (grpc) or :4318 (http/protobuf, /v1/logs is appended).</summary>
    public string Endpoint { get; set; } = string.Empty;

    /// <summary><c>grpc</c> or <c>http/protobuf</c>.</summary>
    public string Protocol { get; set; } = "grpc";

    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Extra request headers (e.g. an API key).</summary>
    public Dictionary<string, string> Headers { get; set; } = [];

    /// <summary>Only these severities are sent (P1..P4); empty = all.</summary>
    public List<string> Severities { get; set; } = [];

    public string ReceiverName => $"otlp:{Endpoint.TrimEnd('/')}";

    public IReadOnlyList<string> Validate(string path)
    {
        var problems = new List<string>();
        if (!OptionChecks.IsHttpUrl(Endpoint))
        {
            problems.Add($"{path}.endpoint: '{Endpoint}' is not an absolute http(s) URL (e.g. http://127.0.0.1:4317)");
        }

        if (Protocol is not ("grpc" or "http/protobuf"))
        {
            problems.Add($"{path}.protocol: '{Protocol}' is not supported; use grpc or http/protobuf");
        }

        OptionChecks.Positive(problems, $"{path}.timeout", Timeout, OptionChecks.MaxTimeout);
        OptionChecks.Severities(problems, $"{path}.severities", Severities);
        return problems;
    }
}

internal static class OptionChecks
{
    /// <summary>Shortest secret, token or credential accepted anywhere in the config (as for server.admin_token).</summary>
    public const int MinSecretLength = 16;

    public static bool IsHttpUrl(string? url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);

    /// <summary>Longest request timeout: a receiver that takes longer is down, and a delivery worker waits on it.</summary>
    public static readonly TimeSpan MaxTimeout = TimeSpan.FromMinutes(10);

    /// <summary>Above zero and at most <paramref name="max"/>: past it timers, deadlines and "now − age" overflow.</summary>
    public static void Positive(List<string> problems, string path, TimeSpan value, TimeSpan max)
    {
        if (value <= TimeSpan.Zero)
        {
            problems.Add($"{path}: must be positive (got {value})");
        }
        else if (value > max)
        {
            problems.Add($"{path}: at most {DurationFormat.Format(max)} (got {DurationFormat.Format(value)})");
        }
    }

    public static void Severities(List<string> problems, string path, List<string> severities)
    {
        for (var i = 0; i < severities.Count; i++)
        {
            if (!TryParseSeverity(severities[i], out _))
            {
                problems.Add($"{path}[{i}]: '{severities[i]}' is not a severity; use P1, P2, P3 or P4");
            }
        }
    }

    public static bool TryParseSeverity(string text, out Severity severity)
    {
        severity = default;
        return text is ['P' or 'p', >= '1' and <= '4'] && Enum.TryParse(text.ToUpperInvariant(), out severity);
    }

    /// <summary>The severity filter; null = every severity.</summary>
    public static IReadOnlySet<Severity>? Filter(List<string> severities)
    {
        if (severities.Count == 0)
        {
            return null;
        }

        var set = new HashSet<Severity>();
        foreach (var s in severities)
        {
            if (TryParseSeverity(s, out var severity))
            {
                set.Add(severity);
            }
        }

        return set;
    }
}
