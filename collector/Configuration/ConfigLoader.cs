using System.Globalization;
using System.Net;
using Vigil.Alerting;
using Vigil.Collector.Security;
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
/// Reads vigil.yaml (every key optional; unknown keys are errors with a suggestion; <c>${VAR}</c>
/// expanded from the environment) and applies command-line flags over it. Every problem is reported
/// at once, each with file:line:column (or the flag or variable it came from) — also those that the
/// options' <c>Validate()</c> finds after binding.
/// </summary>
public static class ConfigLoader
{
    /// <summary>Shortest secret, token or credential accepted anywhere in the config (as for server.admin_token).</summary>
    private const int MinSecretLength = 16;

    private static readonly string[] TopKeys = ["server", "data_dir", "storage", "ingest", "wal", "telemetry", "rules", "alerting", "auth", "remote_write"];
    private static readonly string[] WalKeys = ["enabled", "segment_size", "segment_duration", "checkpoint_interval", "retry_interval"];
    private static readonly string[] ServerKeys = ["otlp_grpc", "otlp_http", "http", "admin_token", "tls"];
    private static readonly string[] TlsKeys = ["cert_file", "key_file", "client_ca_file"];
    private static readonly string[] StorageKeys = ["resolution", "retention", "future_tolerance", "resource_attributes", "max_series", "max_series_per_metric", "max_series_per_tenant", "tenant_attribute", "max_attributes_per_point", "max_attribute_value_length", "max_attribute_key_length", "max_metric_name_length"];
    private static readonly string[] IngestKeys = ["max_request_size", "max_decompression_ratio", "max_inflight_size", "memory_limit", "memory_spike_limit", "memory_check_interval", "retry_after", "max_requests_in_flight", "tenant_rate_limit", "tenant_rate_burst", "tenant_rate_limits"];
    private static readonly string[] TelemetryKeys = ["otlp_endpoint", "otlp_protocol", "export_interval"];
    private static readonly string[] RulesKeys = ["dir", "max_file_size", "max_string_length", "max_rules_per_file", "max_rules", "max_instances_per_rule", "explain_history", "backtest_max_evaluations"];
    private static readonly string[] AuthKeys = ["ingest_keys", "ingest_keys_file", "read_keys", "read_keys_file"];
    private static readonly string[] KeyFields = ["tenant", "key_sha256", "admin"];

    /// <param name="environment">Looks up <c>${VAR}</c> and VIGIL_ADMIN_TOKEN; the process environment unless a test gives its own.</param>
    public static VigilOptions Load(string? path, IReadOnlyList<string> args, Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        var problems = new List<string>();
        var places = new SettingPlaces();
        var options = new VigilOptions();
        string? rulesDir = null;
        if (path is not null)
        {
            (options, rulesDir) = ReadFile(path, options, problems, places, environment);
        }

        options = ApplyFlags(options, args, problems, ref rulesDir, places);

        // A secret is better kept out of files: the environment wins over vigil.yaml.
        if (environment("VIGIL_ADMIN_TOKEN") is { Length: > 0 } adminToken)
        {
            options = options with { AdminToken = adminToken };
            places.Set("server.admin_token", "VIGIL_ADMIN_TOKEN");
        }

        // Validated even after a reading problem (a setting that did not parse kept its default), so an
        // unknown key does not hide the rest.
        foreach (var problem in options.Validate())
        {
            if (places.Locate(problem) is { } located)
            {
                problems.Add(located);
            }
        }

        // Whatever is named like a credential (admin_token, secret, bearer_token, an Authorization or
        // api-key header…) is held to 16 characters, unless its own check already said so.
        foreach (var (setting, place, length) in places.ShortCredentials(MinSecretLength))
        {
            if (!problems.Any(p => p.Contains($" {setting}: ", StringComparison.Ordinal)))
            {
                problems.Add($"{place}: {setting}: a credential needs at least {MinSecretLength} characters (got {length}); a short one is guessable");
            }
        }

        // The files' contents are checked once each is named and found (missing ones were reported above).
        var tls = options.Tls;
        if (tls.Enabled && tls.Validate().Count == 0 && new[] { tls.CertFile, tls.KeyFile, tls.ClientCaFile }.All(f => f is null || File.Exists(f)))
        {
            foreach (var problem in TlsCertificates.Check(options.Tls))
            {
                if (places.Locate(problem) is { } located)
                {
                    problems.Add(located);
                }
            }
        }

        if (problems.Count > 0)
        {
            throw new ConfigException(problems);
        }

        // "" = not set, as with no config at all: ./rules if present, else the packs beside the binary.
        return options with { RulesDir = string.IsNullOrWhiteSpace(rulesDir) ? null : rulesDir };
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

    private static VigilOptions ApplyFlags(VigilOptions options, IReadOnlyList<string> args, List<string> problems, ref string? rulesDir, SettingPlaces places)
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
                    places.Set("server.otlp_grpc", flag);
                    break;
                case "--otlp-http":
                    options = options with { OtlpHttp = Endpoint(value, flag, problems) ?? options.OtlpHttp };
                    places.Set("server.otlp_http", flag);
                    break;
                case "--http":
                    options = options with { Http = Endpoint(value, flag, problems) ?? options.Http };
                    places.Set("server.http", flag);
                    break;
                case "--data-dir":
                    options = options with { DataDir = value };
                    places.Set("data_dir", flag);
                    break;
                case "--rules":
                    rulesDir = value;
                    places.Set("rules.dir", flag);
                    break;
                case "--alertmanager":
                    // Repeatable; each flag adds one Alertmanager to those of the config file.
                    places.Set($"alerting.alertmanagers[{options.Alerting.Alertmanagers.Count}]", flag);
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

    private static (VigilOptions, string?) ReadFile(string path, VigilOptions options, List<string> problems, SettingPlaces places, Func<string, string?> environment)
    {
        string? rulesDir = null;
        if (!File.Exists(path))
        {
            problems.Add($"{path}: config file not found");
            return (options, rulesDir);
        }

        YamlStream stream;
        try
        {
            using var reader = new StreamReader(path);
            stream = Vigil.Rules.YamlNesting.Load(reader);
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
            problems.Add($"{Where(path, stream.Documents[0].RootNode)}: the config must be a mapping of sections (server, storage, ingest, wal, telemetry, rules, alerting, auth)");
            return (options, rulesDir);
        }

        places.Unresolved(EnvSubstitution.Apply(path, root, string.Empty, environment, problems));

        // Entries of an auth key list may come from a keys file too, so their index is not a place in this file.
        places.Add(path, root, skip: setting => setting.StartsWith("auth.", StringComparison.Ordinal) && setting.Contains('[', StringComparison.Ordinal));

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

                        if (name == "tls")
                        {
                            options = options with { Tls = ReadTls(path, value, problems) };
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
                            "max_series" => storage with { MaxSeries = (int)(Integer(path, value, at, problems) ?? storage.MaxSeries) },
                            "max_series_per_metric" => storage with { MaxSeriesPerMetric = (int)(Integer(path, value, at, problems) ?? storage.MaxSeriesPerMetric) },
                            "max_series_per_tenant" => storage with { MaxSeriesPerTenant = (int)(Integer(path, value, at, problems) ?? storage.MaxSeriesPerTenant) },
                            "tenant_attribute" => storage with { TenantAttribute = Scalar(path, value, at, problems) ?? storage.TenantAttribute },
                            "max_attributes_per_point" => storage with { MaxAttributesPerPoint = (int)(Integer(path, value, at, problems) ?? storage.MaxAttributesPerPoint) },
                            "max_attribute_key_length" => storage with { MaxAttributeKeyLength = (int)(Integer(path, value, at, problems) ?? storage.MaxAttributeKeyLength) },
                            "max_metric_name_length" => storage with { MaxMetricNameLength = (int)(Integer(path, value, at, problems) ?? storage.MaxMetricNameLength) },
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
                            "max_decompression_ratio" => ingest with { MaxDecompressionRatio = (int)(Integer(path, value, at, problems) ?? ingest.MaxDecompressionRatio) },
                            "max_inflight_size" => ingest with { MaxInflightBytes = Size(path, value, at, problems) ?? ingest.MaxInflightBytes },
                            "memory_limit" => SizeOrPercent(path, value, at, problems) switch
                            {
                                ({ } bytes, _) => ingest with { MemoryLimitBytes = bytes, MemoryLimitFraction = 0 },
                                (_, { } fraction) => ingest with { MemoryLimitBytes = 0, MemoryLimitFraction = fraction },
                                _ => ingest,
                            },
                            "memory_spike_limit" => SizeOrPercent(path, value, at, problems) switch
                            {
                                ({ } bytes, _) => ingest with { MemorySpikeLimitBytes = bytes, MemorySpikeLimitFraction = 0 },
                                (_, { } fraction) => ingest with { MemorySpikeLimitBytes = 0, MemorySpikeLimitFraction = fraction },
                                _ => ingest,
                            },
                            "memory_check_interval" => ingest with { MemoryCheckInterval = Duration(path, value, at, problems) ?? ingest.MemoryCheckInterval },
                            "max_requests_in_flight" => ingest with { MaxRequestsInFlight = Integer(path, value, at, problems) ?? ingest.MaxRequestsInFlight },
                            "tenant_rate_limit" => ingest with { TenantRateLimit = Integer(path, value, at, problems) ?? ingest.TenantRateLimit },
                            "tenant_rate_burst" => ingest with { TenantRateBurst = Integer(path, value, at, problems) ?? ingest.TenantRateBurst },
                            "tenant_rate_limits" => ingest with { TenantRateLimits = IntegerMap(path, value, at, problems) ?? ingest.TenantRateLimits },
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
                            "retry_interval" => wal with { RetryInterval = Duration(path, value, at, problems) ?? wal.RetryInterval },
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
                case "auth":
                    options = options with { Auth = ReadAuth(path, valueNode, problems, environment) };
                    break;
                case "remote_write":
                    options = options with { RemoteWrite = RemoteWriteList(path, valueNode, problems) };
                    break;
                case "rules":
                    var limits = options.RuleLimits;
                    foreach (var (name, value) in Section(path, valueNode, key, RulesKeys, problems))
                    {
                        var at = $"rules.{name}";
                        switch (name)
                        {
                            case "dir":
                                rulesDir = Scalar(path, value, at, problems);
                                break;
                            case "max_file_size":
                                limits = limits with { MaxFileBytes = Size(path, value, at, problems) ?? limits.MaxFileBytes };
                                break;
                            case "max_string_length":
                                limits = limits with { MaxStringLength = Integer(path, value, at, problems) ?? limits.MaxStringLength };
                                break;
                            case "max_rules_per_file":
                                limits = limits with { MaxRulesPerFile = Integer(path, value, at, problems) ?? limits.MaxRulesPerFile };
                                break;
                            case "max_instances_per_rule":
                                limits = limits with { MaxInstancesPerRule = Integer(path, value, at, problems) ?? limits.MaxInstancesPerRule };
                                break;
                            case "explain_history":
                                limits = limits with { ExplainHistory = Integer(path, value, at, problems) ?? limits.ExplainHistory };
                                break;
                            case "backtest_max_evaluations":
                                options = options with { BacktestMaxEvaluations = Integer(path, value, at, problems) ?? options.BacktestMaxEvaluations };
                                break;
                            default:
                                limits = limits with { MaxRules = Integer(path, value, at, problems) ?? limits.MaxRules };
                                break;
                        }
                    }

                    options = options with { RuleLimits = limits };
                    break;
                default:
                    problems.Add($"{Where(path, keyNode)}: unknown section '{key}'{Suggest(key, TopKeys)}");
                    break;
            }
        }

        return (options with { Storage = storage, Ingest = ingest, Telemetry = telemetry, Wal = wal }, rulesDir);
    }

    private static TlsOptions ReadTls(string path, YamlNode node, List<string> problems)
    {
        var tls = new TlsOptions();
        foreach (var (name, value) in Section(path, node, "server.tls", TlsKeys, problems))
        {
            var at = $"server.tls.{name}";
            var file = Scalar(path, value, at, problems) is { Length: > 0 } text ? RelativeToConfig(path, text) : null;
            if (file is not null && !File.Exists(file))
            {
                problems.Add($"{Where(path, value)}: {at}: '{file}' not found (a relative path is read from the config file's directory)");
            }

            tls = name switch
            {
                "cert_file" => tls with { CertFile = file },
                "key_file" => tls with { KeyFile = file },
                _ => tls with { ClientCaFile = file },
            };
        }

        return tls;
    }

    /// <summary>A path written in a config file, read from that file's directory unless absolute.</summary>
    private static string RelativeToConfig(string configPath, string file) =>
        Path.IsPathRooted(file) ? file : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(configPath)) ?? ".", file);

    private static AuthOptions ReadAuth(string path, YamlNode node, List<string> problems, Func<string, string?> environment)
    {
        var ingest = new List<ApiKeyOptions>();
        var read = new List<ApiKeyOptions>();
        foreach (var (name, value) in Section(path, node, "auth", AuthKeys, problems))
        {
            var at = $"auth.{name}";
            var isRead = name.StartsWith("read_", StringComparison.Ordinal);
            var keys = isRead ? read : ingest;
            if (!name.EndsWith("_file", StringComparison.Ordinal))
            {
                keys.AddRange(Keys(path, value, at, isRead, problems));
            }
            else if (Scalar(path, value, at, problems) is { Length: > 0 } file)
            {
                keys.AddRange(KeysFile(path, value, at, file, isRead, problems, environment));
            }
        }

        return new AuthOptions { IngestKeys = ingest, ReadKeys = read };
    }

    /// <summary>A file holding only the list of entries, so keys can live apart from vigil.yaml (e.g. a mounted secret).</summary>
    private static List<ApiKeyOptions> KeysFile(string configPath, YamlNode node, string at, string file, bool read, List<string> problems, Func<string, string?> environment)
    {
        var full = RelativeToConfig(configPath, file);
        if (!File.Exists(full))
        {
            problems.Add($"{Where(configPath, node)}: {at}: '{file}' not found (a relative path is read from the config file's directory)");
            return [];
        }

        var stream = new YamlStream();
        try
        {
            using var reader = new StreamReader(full);
            stream.Load(reader);
        }
        catch (YamlException e)
        {
            problems.Add($"{full}:{e.Start.Line}:{e.Start.Column}: {e.InnerException?.Message ?? e.Message}");
            return [];
        }

        if (stream.Documents.Count == 0)
        {
            return [];
        }

        // An entry missing a failed ${VAR} would only add "missing" problems; the reference was reported.
        return EnvSubstitution.Apply(full, stream.Documents[0].RootNode, at, environment, problems).Count > 0
            ? []
            : Keys(full, stream.Documents[0].RootNode, at, read, problems);
    }

    private static List<ApiKeyOptions> Keys(string path, YamlNode node, string at, bool read, List<string> problems)
    {
        var keys = new List<ApiKeyOptions>();
        if (node is YamlScalarNode { Value: null or "" })
        {
            return keys;
        }

        if (node is not YamlSequenceNode sequence)
        {
            problems.Add($"{Where(path, node)}: {at} must be a list of {{tenant: NAME, key_sha256: HEX}} entries; `vigil keys add --tenant NAME` prints one");
            return keys;
        }

        for (var i = 0; i < sequence.Children.Count; i++)
        {
            var entry = sequence.Children[i];
            var entryAt = $"{at}[{i}]";
            string? tenant = null, hash = null;
            var admin = false;
            foreach (var (name, value) in Section(path, entry, entryAt, KeyFields, problems))
            {
                switch (name)
                {
                    case "tenant":
                        tenant = Scalar(path, value, $"{entryAt}.tenant", problems);
                        break;
                    case "key_sha256":
                        hash = Scalar(path, value, $"{entryAt}.key_sha256", problems);
                        break;
                    default:
                        admin = Boolean(path, value, $"{entryAt}.admin", problems) ?? false;
                        break;
                }
            }

            if (entry is not YamlMappingNode)
            {
                continue; // an empty entry is nothing; anything else was reported by Section
            }

            if (ApiKeyOptions.Problem(tenant, hash, admin, read) is { } problem)
            {
                problems.Add($"{Where(path, entry)}: {entryAt}: {problem}");
            }
            else
            {
                keys.Add(new ApiKeyOptions { Tenant = tenant!, KeySha256 = hash!.ToLowerInvariant(), Admin = admin });
            }
        }

        return keys;
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

        // Validated with the rest (VigilOptions.Validate), each problem at the place of its setting.
        foreach (var item in sequence.Children)
        {
            var remote = new RemoteWriteOptions();
            YamlBinder.Bind(remote, item, $"{RemoteWriteOptions.Section}[{remotes.Count}]", path, problems);
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

    private static TimeSpan? Duration(string path, YamlNode node, string at, List<string> problems) =>
        Parsed<TimeSpan>(path, node, at, problems, ConfigScalars.Duration);

    private static bool? Boolean(string path, YamlNode node, string at, List<string> problems) =>
        Parsed<bool>(path, node, at, problems, ConfigScalars.Boolean);

    /// <summary>A whole number that fits an int: one that does not is a problem here, not a silent wrap-around in a cast.</summary>
    private static int? Integer(string path, YamlNode node, string at, List<string> problems) =>
        Parsed<int>(path, node, at, problems, ConfigScalars.Int);

    /// <summary>A size (bytes) or a percentage like 80% (a fraction); both null after a problem.</summary>
    private static (long? Bytes, double? Fraction) SizeOrPercent(string path, YamlNode node, string at, List<string> problems)
    {
        var text = Scalar(path, node, at, problems)?.Trim();
        if (text is null || !text.EndsWith('%'))
        {
            return text is null ? (null, null) : (Size(path, node, at, problems), null);
        }

        if (double.TryParse(text[..^1].Trim(), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var percent) && percent <= 100)
        {
            return (null, percent / 100);
        }

        problems.Add($"{Where(path, node)}: {at}: '{text}' is not a percentage; write e.g. 80%, or a size such as 2GiB");
        return (null, null);
    }

    /// <summary>Sizes as bytes or with a unit: 512KiB, 20MiB, 1GiB (also KB/MB/GB as binary units).</summary>
    private static long? Size(string path, YamlNode node, string at, List<string> problems) =>
        Parsed<long>(path, node, at, problems, ConfigScalars.Size);

    private delegate string? Parser<T>(string? text, out T value);

    private static T? Parsed<T>(string path, YamlNode node, string at, List<string> problems, Parser<T> parse)
        where T : struct
    {
        if (node is not YamlScalarNode)
        {
            Scalar(path, node, at, problems);
            return null;
        }

        var problem = parse(((YamlScalarNode)node).Value, out var value);
        if (problem is null)
        {
            return value;
        }

        problems.Add($"{Where(path, node)}: {at}: {problem}");
        return null;
    }

    /// <summary>A mapping of names to whole numbers, e.g. <c>{acme: 50000}</c>; each bad entry is a problem at its place.</summary>
    private static Dictionary<string, int>? IntegerMap(string path, YamlNode node, string at, List<string> problems)
    {
        if (node is YamlScalarNode { Value: null or "" })
        {
            return new Dictionary<string, int>(StringComparer.Ordinal);
        }

        if (node is not YamlMappingNode mapping)
        {
            problems.Add($"{Where(path, node)}: {at} must be a mapping of names to numbers, e.g. {{acme: 50000}}");
            return null;
        }

        var map = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (keyNode, value) in mapping.Children)
        {
            var name = (keyNode as YamlScalarNode)?.Value ?? string.Empty;
            if (Integer(path, value, $"{at}.{name}", problems) is { } number)
            {
                map[name] = number;
            }
        }

        return map;
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
