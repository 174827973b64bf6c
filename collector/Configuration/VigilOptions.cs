using System.Net;
using Vigil.Alerting;
using Vigil.RemoteWrite;
using Vigil.Storage;
using Vigil.Storage.Wal;

namespace Vigil.Collector.Configuration;

/// <summary>Everything the collector is configured with; see collector/vigil.yaml for each setting.</summary>
public sealed record VigilOptions
{
    public IPEndPoint OtlpGrpc { get; init; } = new(IPAddress.Any, 4317);

    public IPEndPoint OtlpHttp { get; init; } = new(IPAddress.Any, 4318);

    public IPEndPoint Http { get; init; } = new(IPAddress.Any, 9190);

    public string DataDir { get; init; } = "./data";

    /// <summary>When set, API writes (POST /-/reload) need <c>Authorization: Bearer TOKEN</c>.</summary>
    public string? AdminToken { get; init; }

    /// <summary>Rule files directory; null = ./rules if present, else the default packs beside the binary.</summary>
    public string? RulesDir { get; init; }

    public WindowStoreOptions Storage { get; init; } = new();

    public IngestOptions Ingest { get; init; } = new();

    public WalOptions Wal { get; init; } = new();

    public AlertingOptions Alerting { get; init; } = new();

    public TelemetryOptions Telemetry { get; init; } = new();

    /// <summary>Prometheus remote-write queues (<c>remote_write:</c>); none by default.</summary>
    public IReadOnlyList<RemoteWriteOptions> RemoteWrite { get; init; } = [];

    /// <summary>Every problem with its config path.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        problems.AddRange(Storage.Validate());
        problems.AddRange(Ingest.Validate());
        problems.AddRange(Wal.Validate());
        problems.AddRange(Alerting.Validate());
        problems.AddRange(Telemetry.Validate());
        problems.AddRange(RemoteWriteOptions.ValidateAll(RemoteWrite));
        if (AdminToken is { Length: < 16 })
        {
            problems.Add("server.admin_token: use at least 16 characters (or VIGIL_ADMIN_TOKEN); a short token is guessable");
        }

        if (string.IsNullOrWhiteSpace(DataDir))
        {
            problems.Add("data_dir: must not be empty");
        }

        var ports = new[] { ("server.otlp_grpc", OtlpGrpc), ("server.otlp_http", OtlpHttp), ("server.http", Http) };
        foreach (var (name, endpoint) in ports)
        {
            foreach (var (other, otherEndpoint) in ports)
            {
                if (string.CompareOrdinal(name, other) < 0 && endpoint.Port != 0 && endpoint.Port == otherEndpoint.Port)
                {
                    problems.Add($"{name}: port {endpoint.Port} is also used by {other}");
                }
            }
        }

        return problems;
    }
}

public sealed record IngestOptions
{
    /// <summary>Largest request body, compressed and decompressed (the OpenTelemetry Collector's default).</summary>
    public long MaxRequestBytes { get; init; } = 20 * 1024 * 1024;

    /// <summary>Decompressed bytes being decoded at once; past it requests get a retryable refusal.</summary>
    public long MaxInflightBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>Managed heap size past which ingest refuses with retryable codes (0 = no limit).</summary>
    public long MemoryLimitBytes { get; init; }

    /// <summary>What Retry-After / RetryInfo tell a refused sender.</summary>
    public TimeSpan RetryAfter { get; init; } = TimeSpan.FromSeconds(5);

    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (MaxRequestBytes < 1024)
        {
            problems.Add("ingest.max_request_size: must be at least 1KiB");
        }

        if (MaxInflightBytes < MaxRequestBytes)
        {
            problems.Add("ingest.max_inflight_size: must be at least ingest.max_request_size");
        }

        if (MemoryLimitBytes < 0)
        {
            problems.Add("ingest.memory_limit: must not be negative");
        }

        if (RetryAfter < TimeSpan.FromSeconds(1))
        {
            problems.Add("ingest.retry_after: must be at least 1s");
        }

        return problems;
    }
}

public sealed record TelemetryOptions
{
    /// <summary>OTLP endpoint for Vigil's own metrics; none = not exported (still on the API).</summary>
    public Uri? OtlpEndpoint { get; init; }

    /// <summary>grpc or http/protobuf.</summary>
    public string OtlpProtocol { get; init; } = "grpc";

    public TimeSpan ExportInterval { get; init; } = TimeSpan.FromSeconds(30);

    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (OtlpProtocol is not ("grpc" or "http/protobuf"))
        {
            problems.Add($"telemetry.otlp_protocol: '{OtlpProtocol}' is not grpc or http/protobuf");
        }

        if (ExportInterval < TimeSpan.FromSeconds(1))
        {
            problems.Add("telemetry.export_interval: must be at least 1s");
        }

        return problems;
    }
}
