using System.Net;
using Vigil.Alerting;
using Vigil.Rules;
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

    /// <summary>When set, API writes (POST /-/reload) need <c>Authorization: Bearer TOKEN</c>; with read keys it also reads every tenant.</summary>
    public string? AdminToken { get; init; }

    /// <summary>Rule files directory; null = ./rules if present, else the default packs beside the binary.</summary>
    public string? RulesDir { get; init; }

    /// <summary>What rule files may hold (<c>rules.max_file_size</c>, <c>rules.max_rules</c>…).</summary>
    public RuleLimits RuleLimits { get; init; } = RuleLimits.Default;

    /// <summary><c>rules.backtest_max_evaluations</c>: instance evaluations one backtest may run (each evaluation of a rule counts its instances, at least 1).</summary>
    public long BacktestMaxEvaluations { get; init; } = 100_000;

    public WindowStoreOptions Storage { get; init; } = new();

    public IngestOptions Ingest { get; init; } = new();

    public WalOptions Wal { get; init; } = new();

    public AlertingOptions Alerting { get; init; } = new();

    public TelemetryOptions Telemetry { get; init; } = new();

    public AuthOptions Auth { get; init; } = new();
    /// <summary>Prometheus remote-write queues (<c>remote_write:</c>); none by default.</summary>
    public IReadOnlyList<RemoteWriteOptions> RemoteWrite { get; init; } = [];

    /// <summary>TLS (and mTLS) for all three listeners; off unless <c>server.tls.cert_file</c> is set.</summary>
    public TlsOptions Tls { get; init; } = new();

    /// <summary>Every problem with its config path.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        problems.AddRange(Storage.Validate());
        problems.AddRange(Ingest.Validate());
        problems.AddRange(Wal.Validate());
        problems.AddRange(Alerting.Validate());
        problems.AddRange(Telemetry.Validate());
        problems.AddRange(Auth.Validate());
        problems.AddRange(RuleLimits.Validate());
        if (BacktestMaxEvaluations < 1)
        {
            problems.Add("rules.backtest_max_evaluations: must be at least 1");
        }
        problems.AddRange(RemoteWriteOptions.ValidateAll(RemoteWrite));
        problems.AddRange(Tls.Validate());
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

    /// <summary>
    /// A gzip body inflating to more than this many times its compressed size (checked past 1 MiB
    /// decompressed) is refused as a likely bomb; 0 = no ratio check (the size limit still holds).
    /// </summary>
    public int MaxDecompressionRatio { get; init; } = 200;

    /// <summary>Decompressed bytes being decoded at once; past it requests get a retryable refusal.</summary>
    public long MaxInflightBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>
    /// The hard memory limit (managed heap): above it every request is refused retryably. 0 = take
    /// <see cref="MemoryLimitFraction"/> of the memory available to the process instead.
    /// </summary>
    public long MemoryLimitBytes { get; init; }

    /// <summary>
    /// With <see cref="MemoryLimitBytes"/> 0: the hard limit as a fraction of the memory the GC may use
    /// (the machine's, or the container's limit). Both 0 = no memory limit.
    /// </summary>
    public double MemoryLimitFraction { get; init; } = 0.8;

    /// <summary>The soft limit lies this far below the hard one (0 = <see cref="MemorySpikeLimitFraction"/> of it).</summary>
    public long MemorySpikeLimitBytes { get; init; }

    /// <summary>With <see cref="MemorySpikeLimitBytes"/> 0: the spike allowance as a fraction of the hard limit.</summary>
    public double MemorySpikeLimitFraction { get; init; } = 0.2;

    /// <summary>How often memory is read (never per request).</summary>
    public TimeSpan MemoryCheckInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>What Retry-After / RetryInfo tell a refused sender.</summary>
    public TimeSpan RetryAfter { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Requests being decoded and stored at once; past it requests get a retryable refusal. 0 = no limit.</summary>
    public int MaxRequestsInFlight { get; init; } = 1024;

    /// <summary>Data points per second each tenant may send (a token bucket per tenant); 0 = no rate limit (decision 016).</summary>
    public int TenantRateLimit { get; init; }

    /// <summary>How many points a tenant may send at once after a quiet spell; 0 = twice the tenant's rate.</summary>
    public int TenantRateBurst { get; init; }

    /// <summary>Per-tenant rates in place of <see cref="TenantRateLimit"/>; 0 = that tenant is not limited.</summary>
    public IReadOnlyDictionary<string, int> TenantRateLimits { get; init; } = new Dictionary<string, int>(StringComparer.Ordinal);

    /// <summary>Whether any tenant has a data-point rate limit.</summary>
    public bool TenantRateLimited => TenantRateLimit > 0 || TenantRateLimits.Values.Any(rate => rate > 0);

    /// <summary>The hard and soft limits in bytes for a process that may use <paramref name="availableBytes"/>; (0, 0) = none.</summary>
    public (long Hard, long Soft) MemoryLimits(long availableBytes)
    {
        var hard = MemoryLimitBytes > 0 ? MemoryLimitBytes : (long)(availableBytes * MemoryLimitFraction);
        if (hard <= 0)
        {
            return (0, 0);
        }

        var spike = MemorySpikeLimitBytes > 0 ? MemorySpikeLimitBytes : (long)(hard * MemorySpikeLimitFraction);
        return (hard, hard - Math.Min(spike, hard));
    }

    private const long MaxRequestLimit = 1L << 30;

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

        if (MaxDecompressionRatio is < 0 or 1)
        {
            problems.Add("ingest.max_decompression_ratio: must be 0 (no ratio check) or at least 2");
        }

        if (MemoryLimitBytes < 0)
        {
            problems.Add("ingest.memory_limit: must not be negative");
        }

        if (MemoryLimitFraction is < 0 or > 1 || double.IsNaN(MemoryLimitFraction))
        {
            problems.Add("ingest.memory_limit: a percentage must be at most 100% of the available memory (0 = no limit)");
        }

        if (MemorySpikeLimitBytes < 0 || MemorySpikeLimitFraction is < 0 or >= 1 || double.IsNaN(MemorySpikeLimitFraction))
        {
            problems.Add("ingest.memory_spike_limit: must be a size or a percentage of ingest.memory_limit below 100%");
        }
        else if (MemoryLimitBytes > 0 && MemorySpikeLimitBytes >= MemoryLimitBytes)
        {
            problems.Add("ingest.memory_spike_limit: must be below ingest.memory_limit (the soft limit is their difference)");
        }

        if (MemoryCheckInterval < TimeSpan.FromMilliseconds(100) || MemoryCheckInterval > TimeSpan.FromMinutes(1))
        {
            problems.Add("ingest.memory_check_interval: must be from 100ms to 1m");
        }

        if (MaxRequestBytes > MaxRequestLimit)
        {
            problems.Add("ingest.max_request_size: at most 1GiB (one request is decoded in memory, and gRPC frames are 32-bit)");
        }

        if (RetryAfter < TimeSpan.FromSeconds(1) || RetryAfter > TimeSpan.FromHours(1))
        {
            problems.Add("ingest.retry_after: must be from 1s to 1h");
        }

        if (MaxRequestsInFlight < 0)
        {
            problems.Add("ingest.max_requests_in_flight: must not be negative (0 = no limit)");
        }

        if (TenantRateLimit < 0)
        {
            problems.Add("ingest.tenant_rate_limit: data points per second must not be negative (0 = no limit)");
        }

        if (TenantRateBurst < 0)
        {
            problems.Add("ingest.tenant_rate_burst: must not be negative (0 = twice the tenant's rate)");
        }

        foreach (var (tenant, rate) in TenantRateLimits)
        {
            if (rate < 0)
            {
                problems.Add($"ingest.tenant_rate_limits.{tenant}: data points per second must not be negative (0 = this tenant is not limited)");
            }
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

        if (ExportInterval < TimeSpan.FromSeconds(1) || ExportInterval > TimeSpan.FromDays(1))
        {
            problems.Add("telemetry.export_interval: must be from 1s to 1d");
        }

        if (OtlpEndpoint is not null && OtlpEndpoint.Scheme is not ("http" or "https"))
        {
            problems.Add($"telemetry.otlp_endpoint: '{OtlpEndpoint}' is not an absolute http(s) URL (e.g. http://127.0.0.1:4317)");
        }

        return problems;
    }
}

/// <summary>
/// <c>server.tls</c>: one certificate for the OTLP listeners and the API, and optionally the CAs
/// whose client certificates they require (mTLS). Paths are absolute once loaded (a relative one is
/// read from the config file's directory). The files are read again when they change (docs/security.md).
/// </summary>
public sealed record TlsOptions
{
    /// <summary>PEM certificate, optionally followed by its intermediates; null = plain HTTP and h2c.</summary>
    public string? CertFile { get; init; }

    /// <summary>PEM private key (PKCS#8, RSA or EC) of <see cref="CertFile"/>.</summary>
    public string? KeyFile { get; init; }

    /// <summary>PEM CA certificate(s); when set every connection must present a client certificate they issued.</summary>
    public string? ClientCaFile { get; init; }

    public bool Enabled => CertFile is not null;

    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (CertFile is not null && KeyFile is null)
        {
            problems.Add("server.tls.key_file: required with server.tls.cert_file (the PEM private key of the certificate)");
        }

        if (KeyFile is not null && CertFile is null)
        {
            problems.Add("server.tls.cert_file: required with server.tls.key_file");
        }

        if (ClientCaFile is not null && CertFile is null)
        {
            problems.Add("server.tls.client_ca_file: client certificates need TLS; set server.tls.cert_file and key_file too");
        }

        return problems;
    }
}

/// <summary>
/// Keys bound to tenants (docs/security.md). Empty lists leave that side open, as before keys
/// existed: no ingest keys = anyone may write any tenant; no read keys = the API answers everything.
/// </summary>
public sealed record AuthOptions
{
    /// <summary><c>auth.ingest_keys</c> plus the entries of <c>auth.ingest_keys_file</c>.</summary>
    public IReadOnlyList<ApiKeyOptions> IngestKeys { get; init; } = [];

    /// <summary><c>auth.read_keys</c> plus the entries of <c>auth.read_keys_file</c>.</summary>
    public IReadOnlyList<ApiKeyOptions> ReadKeys { get; init; } = [];

    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        Check(IngestKeys, "auth.ingest_keys", read: false, problems);
        Check(ReadKeys, "auth.read_keys", read: true, problems);
        return problems;
    }

    private static void Check(IReadOnlyList<ApiKeyOptions> keys, string at, bool read, List<string> problems)
    {
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < keys.Count; i++)
        {
            if (ApiKeyOptions.Problem(keys[i].Tenant, keys[i].KeySha256, keys[i].Admin, read) is { } problem)
            {
                problems.Add($"{at}[{i}]: {problem}");
            }
            else if (!seen.Add(keys[i].KeySha256))
            {
                problems.Add($"{at}[{i}]: the same key_sha256 is listed twice; one key belongs to one tenant");
            }
        }
    }
}

/// <summary>One key: its tenant and the SHA-256 of the key (the key itself is never configured or stored).</summary>
public sealed record ApiKeyOptions
{
    public required string Tenant { get; init; }

    /// <summary>64 hex digits, as <c>vigil keys add</c> prints them.</summary>
    public required string KeySha256 { get; init; }

    /// <summary>An ingest key that may write any tenant (an OpenTelemetry Collector gateway).</summary>
    public bool Admin { get; init; }

    /// <summary>What is wrong with one entry, or null. Never quotes key_sha256: a key pasted there by mistake must not reach a log.</summary>
    public static string? Problem(string? tenant, string? keySha256, bool admin, bool read)
    {
        if (string.IsNullOrWhiteSpace(tenant))
        {
            return "tenant: missing; every key belongs to one tenant (e.g. tenant: acme)";
        }

        if (tenant.Trim() != tenant || tenant.Any(char.IsControl))
        {
            return "tenant: no leading or trailing spaces or control characters";
        }

        if (keySha256 is null)
        {
            return "key_sha256: missing; `vigil keys add --tenant NAME` prints the line to paste";
        }

        if (keySha256.Length != 64 || !keySha256.All(char.IsAsciiHexDigit))
        {
            return $"key_sha256: not a SHA-256 digest ({keySha256.Length} characters, need 64 hex digits); paste the hash `vigil keys add` prints, never the key itself";
        }

        if (admin && read)
        {
            return "admin: read keys are bound to one tenant; server.admin_token reads every tenant";
        }

        return null;
    }
}
