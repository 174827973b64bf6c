using System.Collections.Concurrent;
using System.Diagnostics;
using Vigil.Collector.Configuration;
using Vigil.Collector.Security;
using Vigil.Otlp.Json;
using Vigil.Otlp.Proto.Collector;
using Vigil.Otlp.Wire;
using Vigil.Storage;
using Vigil.Storage.Durability;
using Vigil.Storage.Wal;

namespace Vigil.Collector.Otlp;

public enum OtlpOutcomeKind
{
    Success,
    InvalidArgument,
    /// <summary>Throttled: RESOURCE_EXHAUSTED with RetryInfo / HTTP 429 with Retry-After.</summary>
    Overloaded,

    /// <summary>Over the memory limit, replaying, or the WAL cannot write: UNAVAILABLE with RetryInfo / HTTP 503 with Retry-After.</summary>
    Unavailable,

    /// <summary>No ingest key or an unknown one: UNAUTHENTICATED / HTTP 401; nothing was read into the store or the WAL.</summary>
    Unauthenticated,
}

/// <summary>What happened to one export, before it is put into a transport's terms.</summary>
/// <param name="RetryAfter">For a retryable refusal that knows when a retry can succeed (a tenant's rate); else <c>ingest.retry_after</c> applies.</param>
public readonly record struct OtlpOutcome(OtlpOutcomeKind Kind, IngestResult Result, string? Message, TimeSpan? RetryAfter = null)
{
    public ExportMetricsServiceResponse ToResponse()
    {
        var response = new ExportMetricsServiceResponse();
        // Full success leaves partial_success unset, as the OTLP spec asks.
        if (Result.Rejected > 0 || Result.ErrorMessage is not null)
        {
            response.PartialSuccess = new ExportMetricsPartialSuccess
            {
                RejectedDataPoints = Result.Rejected,
                ErrorMessage = Result.ErrorMessage ?? string.Empty,
            };
        }

        return response;
    }
}

/// <summary>
/// The one ingest path behind OTLP/gRPC and OTLP/HTTP: admission, decoding, the write-ahead log,
/// storing, and the self-metrics of each request. The transports only translate bytes and statuses.
/// </summary>
public sealed class OtlpReceiver(OtlpIngest ingest, IngestGate gate, WalService wal, VigilMetrics metrics, VigilOptions options)
{
    private readonly IMetricSink _sink = wal.Durable;
    private readonly ApiKeys _keys = new(options.Auth.IngestKeys);
    private readonly ConcurrentBag<RateAdmission> _admissions = [];

    public IngestGate Gate { get; } = gate;

    /// <summary>
    /// Who may write, from the request's headers: with <c>auth.ingest_keys</c> the key's tenant binding
    /// (or an <see cref="OtlpOutcomeKind.Unauthenticated"/> refusal whose message never repeats the
    /// key); without keys every request is admitted unbound, as before keys existed.
    /// </summary>
    public (TenantBinding? Binding, OtlpOutcome? Refusal) Authenticate(IHeaderDictionary headers, string transport)
    {
        if (_keys.IsEmpty)
        {
            return (null, null);
        }

        var started = Stopwatch.GetTimestamp();
        var presented = ApiKeys.Presented(headers);
        if (_keys.Find(presented) is { } key)
        {
            return (key.Binding, null);
        }

        metrics.RecordRequest(transport, "unauthenticated", started);
        var message = presented is null
            ? "this Vigil needs an ingest key: send 'Authorization: Bearer KEY' or 'api-key: KEY' (auth.ingest_keys; `vigil keys add --tenant NAME` makes one)"
            : "the ingest key is not one of auth.ingest_keys (revoked, mistyped, or for another Vigil)";
        return (null, new OtlpOutcome(OtlpOutcomeKind.Unauthenticated, default, message));
    }

    /// <summary>The tenant rate limit as an admission of the durable ingest: decided from the check pass's counts.</summary>
    private sealed class RateAdmission(string tenantAttribute) : IIngestAdmission
    {
        public TenantPointCounts Counts { get; } = new(tenantAttribute);

        public TenantRateLimiter? Rates { get; set; }

        public RateRefusal? Refusal { get; private set; }

        public bool Admit() => (Refusal = Rates!.TryTake(Counts)) is null;
    }

    /// <param name="binding">The ingest key's tenant binding from <see cref="Authenticate"/>; null without keys.</param>
    public async Task<OtlpOutcome> ExportAsync(RequestBody body, bool json, string transport, TenantBinding? binding, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        if (wal.Replaying)
        {
            metrics.RecordRequest(transport, "unavailable", started);
            return new OtlpOutcome(OtlpOutcomeKind.Unavailable, default, "Vigil is replaying its write-ahead log after a restart; retry shortly");
        }

        // While the WAL cannot write, refuse before decoding: nothing could be made durable anyway.
        if (wal.Unavailable is { } reason)
        {
            metrics.RecordRequest(transport, "unavailable", started);
            return new OtlpOutcome(OtlpOutcomeKind.Unavailable, default, reason + "; retry later");
        }

        var refusal = Gate.TryEnter(body.Length);
        if (refusal is { } refused)
        {
            metrics.RecordRequest(transport, refused.Memory ? "unavailable" : "throttled", started);
            return new OtlpOutcome(refused.Memory ? OtlpOutcomeKind.Unavailable : OtlpOutcomeKind.Overloaded, default, refused.Message);
        }

        try
        {
            var request = json ? OtlpJsonTranscoder.ToProtobuf(body.Span) : body.Memory;

            // Checked, logged before it is applied (an acknowledged request is on disk and replayed after a
            // crash) and stored by the durable ingest; over a tenant's rate nothing of it is logged.
            IngestResult result;
            if (Gate.Rates is { } rates)
            {
                var admission = _admissions.TryTake(out var pooled) ? pooled : new RateAdmission(ingest.Store.Options.TenantAttribute);
                try
                {
                    admission.Counts.Reset(binding);
                    admission.Rates = rates;
                    if (await _sink.WriteAsync(request, binding, admission, cancellationToken) is not { } admitted)
                    {
                        metrics.RecordRequest(transport, "throttled", started);
                        return new OtlpOutcome(OtlpOutcomeKind.Overloaded, default, admission.Refusal!.Value.Message, admission.Refusal.Value.RetryAfter);
                    }

                    result = admitted;
                }
                finally
                {
                    _admissions.Add(admission);
                }
            }
            else
            {
                result = (await _sink.WriteAsync(request, binding, admission: null, cancellationToken))!.Value;
            }

            metrics.RecordRequest(transport, result.Rejected > 0 ? "partial" : "success", started);
            return new OtlpOutcome(OtlpOutcomeKind.Success, result, null);
        }
        catch (OtlpRequestRefusedException e)
        {
            // Well-formed, but no point of it could be stored: refused whole, so nothing of it is logged (decision 006).
            metrics.RecordRequest(transport, "invalid", started);
            return new OtlpOutcome(OtlpOutcomeKind.InvalidArgument, default, $"OTLP metrics request refused, nothing stored: {e.Message}");
        }
        catch (OtlpFormatException e)
        {
            metrics.RecordRequest(transport, "invalid", started);
            return new OtlpOutcome(OtlpOutcomeKind.InvalidArgument, default, $"malformed OTLP metrics request: {e.Message}");
        }
        catch (WalUnavailableException e)
        {
            metrics.RecordRequest(transport, "unavailable", started);
            return new OtlpOutcome(OtlpOutcomeKind.Unavailable, default, e.Message + "; retry later");
        }
        finally
        {
            Gate.Exit(body.Length);
        }
    }
}
