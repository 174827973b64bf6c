using System.Collections.Concurrent;
using System.Diagnostics;
using Vigil.Collector.Configuration;
using Vigil.Collector.Security;
using Vigil.Otlp.Json;
using Vigil.Otlp.Proto.Collector;
using Vigil.Otlp.Wire;
using Vigil.Storage;
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
    private readonly ApiKeys _keys = new(options.Auth.IngestKeys);
    private readonly ConcurrentBag<TenantPointCounts> _tenantCounts = [];

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

    private OtlpIngest.PreparedRequest PrepareRated(ReadOnlyMemory<byte> request, TenantBinding? binding, TenantRateLimiter rates, out RateRefusal? overRate)
    {
        var counts = _tenantCounts.TryTake(out var pooled) ? pooled : new TenantPointCounts(ingest.Store.Options.TenantAttribute);
        try
        {
            counts.Reset(binding);
            var prepared = ingest.Prepare(request, counts);
            overRate = rates.TryTake(counts);
            return prepared;
        }
        finally
        {
            _tenantCounts.Add(counts);
        }
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

            // Checked and indexed in one walk; the apply below is fed from the index (decision 031).
            RateRefusal? overRate = null;
            using var prepared = Gate.Rates is { } rates ? PrepareRated(request, binding, rates, out overRate) : ingest.Prepare(request);
            if (overRate is { } throttled)
            {
                // Counted per tenant in the check; over a tenant's rate nothing of it reaches the WAL or the store.
                metrics.RecordRequest(transport, "throttled", started);
                return new OtlpOutcome(OtlpOutcomeKind.Overloaded, default, throttled.Message, throttled.RetryAfter);
            }

            // Logged before it is applied, so an acknowledged request is on disk and replayed after a crash.
            // Append and apply happen inside the ingest barrier: a checkpoint waits for both or neither.
            IngestResult result;
            await wal.EnterIngestAsync(cancellationToken);
            try
            {
                await wal.AppendAsync(request, binding, cancellationToken);
                result = prepared.Apply(binding);
            }
            finally
            {
                wal.ExitIngest();
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
