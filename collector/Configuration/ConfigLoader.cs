using System.Globalization;
using System.Net;
using Vigil.Alerting;
using Vigil.RemoteWrite;
using Vigil.Storage;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Vigil.Collector.Configuration;

/// <summary>A configuration problem a person can fix: where it is and what to write instead.</summary>
public sealed class ConfigException(IReadOnlyList<string> problems) : Exception(string.Join(Environment.NewLine, problems))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}

/// <summary>
/// Reads vigil.yaml (every key optional; unknown keys are errors with a suggestion) and applies
/// command-line flags over it. Every problem is reported at once with file:line:column.
/// </summary>
public static class ConfigLoader
{
    private static readonly string[] TopKeys = ["server", "data_dir", "storage", "ingest", "wal", "telemetry", "rules", "alerting", "remote_write"];
    private static readonly string[] WalKeys = ["enabled", "segment_size", "segment_duration", "checkpoint_interval"];
    private static readonly string[] ServerKeys = ["otlp_grpc", "otlp_http", "http", "admin_token"];
    private static readonly string[] StorageKeys = ["resolution", "retention", "future_tolerance", "resource_attributes", "max_series_per_metric", "max_series_per_tenant", "tenant_attribute", "max_attributes_per_point", "max_attribute_value_length"];
    private static readonly string[] IngestKeys = ["max_request_size", "max_inflight_size", "memory_limit", "retry_after"];
    private static readonly string[] TelemetryKeys = ["otlp_endpoint", "otlp_protocol", "export_interval"];
    private static readonly string[] RulesKeys = ["dir"];

    public static VigilOptions Load(string? path, IReadOnlyList<string> args)
    {
        var problems = new List<string>();
        var options = new VigilOptions();
        string? rulesDir = null;
        if (path is not null)
        {
            (options, rulesDir) = ReadFile(path, options, problems);
        }

        options = ApplyFlags(options, args, problems, ref rulesDir);

        // A secret is better kept out of files: the environment wins over vigil.yaml.
        if (Environment.GetEnvironmentVariable("VIGIL_ADMIN_TOKEN") is { Length: > 0 } adminToken)
        {
            options = options with { AdminToken = adminToken };
        }
        if (problems.Count == 0)
        {
            problems.AddRange(options.Validate());
        }

        if (problems.Count > 0)
        {
            throw new ConfigException(problems);
        }

        return options with { RulesDir = rulesDir };
    }

    /// <summary>The value of <c>--config</c> among the arguments, if any.</summary>
    public static string? ConfigPath(IReadOnlyList<string> args)
    {
        for (var i = 0; i < args.Count - 1; i++)
        {
            if (args[i] == "--config")
            {
                return args[i + 1];
            }
        }

        return null;
    }

    private static VigilOptions ApplyFlags(VigilOptions options, IReadOnlyList<string> args, List<string> problems, ref string? rulesDir)
    {
        for (var i = 0; i < args.Count; i++)
        {
            var flag = args[i];
            if (flag is "--demo")
            {
                continue;
            }

            if (i + 1 >= args.Count)
            {
                problems.Add($"{flag}: needs a value");
                break;
            }

            var value = args[++i];
            switch (flag)
            {
                case "--otlp-grpc":
                    options = options with { OtlpGrpc = Endpoint(value, flag, problems) ?? options.OtlpGrpc };
                    break;
                case "--otlp-http":
                    options = options with { OtlpHttp = Endpoint(value, flag, problems) ?? options.OtlpHttp };
                    break;
                case "--http":
                    options = options with { Http = Endpoint(value, flag, problems) ?? options.Http };
                    break;
                case "--data-dir":
                    options = options with { DataDir = value };
                    break;
                case "--rules":
                    rulesDir = value;
                    break;
                case "--alertmanager":
                    // Repeatable; each flag adds one Alertmanager to those of the config file.
                    var alerting = options.Alerting with { Alertmanagers = [.. options.Alerting.Alertmanagers, new AlertmanagerOptions { Url = value }] };
                    options = options with { Alerting = alerting };
                    break;
                case "--config" or "--demo-scenario-length":
                    break; // read elsewhere (Program, DemoCommandLine)
                default:
                    problems.Add($"{flag}: unknown flag; flags are --otlp-grpc HOST:PORT, --otlp-http HOST:PORT, --http HOST:PORT, --data-dir DIR, --rules DIR, --alertmanager URL, --config FILE, --demo");
                    break;
            }
        }

        return options;
    }

    private static IPEndPoint? Endpoint(string text, string where, List<string> problems)
    {
        if (IPEndPoint.TryParse(text, out var endpoint) && text.Contains(':', StringComparison.Ordinal))
        {
            return endpoint;
        }

        var colon = text.LastIndexOf(':');
        if (colon > 0 && text[..colon] == "localhost" && int.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port <= 65535)
        {
            return new IPEndPoint(IPAddress.Loopback, port);
        }

        problems.Add($"{where}: '{text}' is not HOST:PORT (e.g. 0.0.0.0:4317, 127.0.0.1:4318, [::1]:9190)");
        return null;
    }

    private static (VigilOptions, string?) ReadFile(string path, VigilOptions options, List<string> problems)
    {
        string? rulesDir = null;
        if (!File.Exists(path))
        {
            problems.Add($"{path}: config file not found");
            return (options, rulesDir);
        }

        var stream = new YamlStream();
        try
        {
            using var reader = new StreamReader(path);
            stream.Load(reader);
        }
        catch (YamlException e)
        {
            problems.Add($"{path}:{e.Start.Line}:{e.Start.Column}: {e.InnerException?.Message ?? e.Message}");
            return (options, rulesDir);
        }

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is YamlScalarNode { Value: null or "" })
        {
            return (options, rulesDir);
        }

        if (stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            problems.Add($"{Where(path, stream.Documents[0].RootNode)}: the config must be a mapping of sections (server, storage, ingest, telemetry, rules)");
            return (options, rulesDir);
        }

        var storage = options.Storage;
        var ingest = options.Ingest;
        var telemetry = options.Telemetry;
        var wal = options.Wal;
        foreach (var (keyNode, valueNode) in root.Children)
        {
            var key = ((YamlScalarNode)keyNode).Value ?? string.Empty;
            switch (key)
            {
                case "data_dir":
                    options = options with { DataDir = Scalar(path, valueNode, key, problems) ?? options.DataDir };
                    break;
                case "server":
                    foreach (var (name, value) in Section(path, valueNode, key, ServerKeys, problems))
                    {
                        if (name == "admin_token")
                        {
                            var token = Scalar(path, value, "server.admin_token", problems);
                            options = options with { AdminToken = string.IsNullOrEmpty(token) ? null : token };
                            continue;
                        }

                        var endpoint = Scalar(path, value, $"server.{name}", problems) is { } text ? Endpoint(text, $"{Where(path, value)}: server.{name}", problems) : null;
                        options = name switch
                        {
                            "otlp_grpc" => options with { OtlpGrpc = endpoint ?? options.OtlpGrpc },
                            "otlp_http" => options with { OtlpHttp = endpoint ?? options.OtlpHttp },
                            _ => options with { Http = endpoint ?? options.Http },
                        };
                    }

                    break;
                case "storage":
                    foreach (var (name, value) in Section(path, valueNode, key, StorageKeys, problems))
                    {
                        var at = $"storage.{name}";
                        storage = name switch
                        {
                            "resolution" => storage with { Resolution = Duration(path, value, at, problems) ?? storage.Resolution },
                            "retention" => storage with { Retention = Duration(path, value, at, problems) ?? storage.Retention },
                            "future_tolerance" => storage with { FutureTolerance = Duration(path, value, at, problems) ?? storage.FutureTolerance },
                            "resource_attributes" => storage with { ResourceAttributes = List(path, value, at, problems) ?? storage.ResourceAttributes },
                            "max_series_per_metric" => storage with { MaxSeriesPerMetric = (int)(Integer(path, value, at, problems) ?? storage.MaxSeriesPerMetric) },
                            "max_series_per_tenant" => storage with { MaxSeriesPerTenant = (int)(Integer(path, value, at, problems) ?? storage.MaxSeriesPerTenant) },
                            "tenant_attribute" => storage with { TenantAttribute = Scalar(path, value, at, problems) ?? storage.TenantAttribute },
                            "max_attributes_per_point" => storage with { MaxAttributesPerPoint = (int)(Integer(path, value, at, problems) ?? storage.MaxAttributesPerPoint) },
                            _ => storage with { MaxAttributeValueLength = (int)(Integer(path, value, at, problems) ?? storage.MaxAttributeValueLength) },
                        };
                    }

                    break;
                case "ingest":
                    foreach (var (name, value) in Section(path, valueNode, key, IngestKeys, problems))
                    {
                        var at = $"ingest.{name}";
                        ingest = name switch
                        {
                            "max_request_size" => ingest with { MaxRequestBytes = Size(path, value, at, problems) ?? ingest.MaxRequestBytes },
                            "max_inflight_size" => ingest with { MaxInflightBytes = Size(path, value, at, problems) ?? ingest.MaxInflightBytes },
                            "memory_limit" => ingest with { MemoryLimitBytes = Size(path, value, at, problems) ?? ingest.MemoryLimitBytes },
                            _ => ingest with { RetryAfter = Duration(path, value, at, problems) ?? ingest.RetryAfter },
                        };
                    }

                    break;
                case "wal":
                    foreach (var (name, value) in Section(path, valueNode, key, WalKeys, problems))
                    {
                        var at = $"wal.{name}";
                        wal = name switch
                        {
                            "enabled" => wal with { Enabled = Boolean(path, value, at, problems) ?? wal.Enabled },
                            "segment_size" => wal with { SegmentBytes = Size(path, value, at, problems) ?? wal.SegmentBytes },
                            "checkpoint_interval" => wal with { CheckpointInterval = Duration(path, value, at, problems) ?? wal.CheckpointInterval },
                            _ => wal with { SegmentDuration = Duration(path, value, at, problems) ?? wal.SegmentDuration },
                        };
                    }

                    break;
                case "telemetry":
                    foreach (var (name, value) in Section(path, valueNode, key, TelemetryKeys, problems))
                    {
                        var at = $"telemetry.{name}";
                        var text = Scalar(path, value, at, problems);
                        switch (name)
                        {
                            case "otlp_endpoint" when string.IsNullOrEmpty(text):
                                break;
                            case "otlp_endpoint":
                                if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
                                {
                                    telemetry = telemetry with { OtlpEndpoint = uri };
                                }
                                else
                                {
                                    problems.Add($"{Where(path, value)}: {at}: '{text}' is not an absolute http(s) URL (e.g. http://127.0.0.1:4317)");
                                }

                                break;
                            case "otlp_protocol":
                                telemetry = telemetry with { OtlpProtocol = text ?? telemetry.OtlpProtocol };
                                break;
                            default:
                                telemetry = telemetry with { ExportInterval = Duration(path, value, at, problems) ?? telemetry.ExportInterval };
                                break;
                        }
                    }

                    break;
                case "alerting":
                    var alerting = new AlertingOptions();
                    YamlBinder.Bind(alerting, valueNode, "alerting", path, problems);
                    options = options with { Alerting = alerting };
                    break;
                case "remote_write":
                    options = options with { RemoteWrite = RemoteWriteList(path, valueNode, problems) };
                    break;
                case "rules":
                    foreach (var (_, value) in Section(path, valueNode, key, RulesKeys, problems))
                    {
                        rulesDir = Scalar(path, value, "rules.dir", problems);
                    }

                    break;
                default:
                    problems.Add($"{Where(path, keyNode)}: unknown section '{key}'{Suggest(key, TopKeys)}");
                    break;
            }
        }

        return (options with { Storage = storage, Ingest = ingest, Telemetry = telemetry, Wal = wal }, rulesDir);
    }

    /// <summary><c>remote_write:</c> is a list of queues, each bound like <c>alerting:</c> (unknown keys named with a suggestion).</summary>
    private static List<RemoteWriteOptions> RemoteWriteList(string path, YamlNode node, List<string> problems)
    {
        var remotes = new List<RemoteWriteOptions>();
        if (node is YamlScalarNode { Value: null or "" })
        {
            return remotes;
        }

        if (node is not YamlSequenceNode sequence)
        {
            problems.Add($"{Where(path, node)}: remote_write must be a list, e.g. - url: http://127.0.0.1:8428/api/v1/write");
            return remotes;
        }

        foreach (var item in sequence.Children)
        {
            var remote = new RemoteWriteOptions();
            var before = problems.Count;
            YamlBinder.Bind(remote, item, $"{RemoteWriteOptions.Section}[{remotes.Count}]", path, problems);
            var at = $"{RemoteWriteOptions.Section}[{remotes.Count}]";
            if (problems.Count == before)
            {
                // Validation names config paths; say where in the file the entry is too.
                problems.AddRange(remote.Validate(at).Select(p => $"{Where(path, item)}: {p}"));
            }

            remotes.Add(remote);
        }

        return remotes;
    }

    private static IEnumerable<(string Name, YamlNode Value)> Section(string path, YamlNode node, string section, string[] known, List<string> problems)
    {
        if (node is YamlScalarNode { Value: null or "" })
        {
            yield break;
        }

        if (node is not YamlMappingNode mapping)
        {
            problems.Add($"{Where(path, node)}: {section} must be a mapping");
            yield break;
        }

        foreach (var (keyNode, value) in mapping.Children)
        {
            var name = ((YamlScalarNode)keyNode).Value ?? string.Empty;
            if (Array.IndexOf(known, name) < 0)
            {
                problems.Add($"{Where(path, keyNode)}: unknown setting '{section}.{name}'{Suggest(name, known)}");
                continue;
            }

            yield return (name, value);
        }
    }

    private static string Where(string path, YamlNode node) => $"{path}:{node.Start.Line}:{node.Start.Column}";

    private static string? Scalar(string path, YamlNode node, string at, List<string> problems)
    {
        if (node is YamlScalarNode scalar)
        {
            return scalar.Value;
        }

        problems.Add($"{Where(path, node)}: {at} must be a single value");
        return null;
    }

    private static TimeSpan? Duration(string path, YamlNode node, string at, List<string> problems)
    {
        var text = Scalar(path, node, at, problems);
        if (text is null)
        {
            return null;
        }

        if (DurationFormat.TryParse(text, out var duration))
        {
            return duration;
        }

        problems.Add($"{Where(path, node)}: {at}: '{text}' is not a duration; write e.g. 10s, 5m, 1h30m");
        return null;
    }

    private static bool? Boolean(string path, YamlNode node, string at, List<string> problems)
    {
        var text = Scalar(path, node, at, problems);
        if (bool.TryParse(text, out var value))
        {
            return value;
        }

        problems.Add($"{Where(path, node)}: {at}: '{text}' is not true or false");
        return null;
    }

    private static long? Integer(string path, YamlNode node, string at, List<string> problems)
    {
        var text = Scalar(path, node, at, problems);
        if (text is not null && long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }

        problems.Add($"{Where(path, node)}: {at}: '{text}' is not a whole number");
        return null;
    }

    /// <summary>Sizes as bytes or with a unit: 512KiB, 20MiB, 1GiB (also KB/MB/GB as binary units).</summary>
    private static long? Size(string path, YamlNode node, string at, List<string> problems)
    {
        var text = Scalar(path, node, at, problems)?.Trim();
        if (text is null)
        {
            return null;
        }

        var units = new (string Suffix, long Factor)[] { ("KiB", 1L << 10), ("MiB", 1L << 20), ("GiB", 1L << 30), ("KB", 1L << 10), ("MB", 1L << 20), ("GB", 1L << 30), ("B", 1) };
        foreach (var (suffix, factor) in units)
        {
            if (text.EndsWith(suffix, StringComparison.OrdinalIgnoreCase) && long.TryParse(text[..^suffix.Length].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            {
                return n * factor;
            }
        }

        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var bytes))
        {
            return bytes;
        }

        problems.Add($"{Where(path, node)}: {at}: '{text}' is not a size; write e.g. 20MiB, 512KiB or a number of bytes");
        return null;
    }

    private static List<string>? List(string path, YamlNode node, string at, List<string> problems)
    {
        if (node is YamlSequenceNode sequence)
        {
            return sequence.Children.OfType<YamlScalarNode>().Select(s => s.Value ?? string.Empty).ToList();
        }

        problems.Add($"{Where(path, node)}: {at} must be a list, e.g. [service.name, tenant.id]");
        return null;
    }

    internal static string Suggest(string name, IEnumerable<string> known)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in known)
        {
            var distance = Levenshtein(name, candidate);
            if (distance < bestDistance)
            {
                best = candidate;
                bestDistance = distance;
            }
        }

        return best is not null && bestDistance <= Math.Max(2, name.Length / 3) ? $" (did you mean '{best}'?)" : string.Empty;
    }

    private static int Levenshtein(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}
