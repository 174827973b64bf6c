using System.Collections.Concurrent;
using Vigil.Otlp.Wire;

namespace Vigil.Storage;

/// <summary>
/// The one ingest call behind both OTLP transports: checks the whole request, then applies it.
/// A malformed request changes nothing, so the sender may fix it and resend all of it. The check also
/// decides which points are refused for their content (<see cref="OtlpPointRules"/>); apply refuses the
/// same points again, so it never meets a value the store cannot take (decision 006).
/// </summary>
public sealed class OtlpIngest(WindowStore store)
{
    private readonly ConcurrentBag<Worker> _workers = [];

    public WindowStore Store { get; } = store;

    /// <exception cref="OtlpFormatException">The body is not a valid OTLP metrics request; nothing was stored.</exception>
    public IngestResult Ingest(ReadOnlySpan<byte> request, TenantBinding? binding = null)
    {
        Check(request);
        return Apply(request, binding);
    }

    /// <summary>Walks the whole request without storing anything (before it is logged and applied).</summary>
    /// <exception cref="OtlpFormatException">The body is not a valid OTLP metrics request.</exception>
    /// <exception cref="OtlpRequestRefusedException">It is, but every one of its points is refused for its content: logging it would store nothing.</exception>
    public void Check(ReadOnlySpan<byte> request) => Check(request, tenants: null);

    /// <summary>
    /// As <see cref="Check(ReadOnlySpan{byte})"/>, and counts the points that will be stored per tenant
    /// into <paramref name="tenants"/> (reset by the caller with the request's binding) in the same walk.
    /// </summary>
    /// <exception cref="OtlpFormatException">The body is not a valid OTLP metrics request.</exception>
    /// <exception cref="OtlpRequestRefusedException">Every one of its points is refused for its content.</exception>
    public void Check(ReadOnlySpan<byte> request, TenantPointCounts? tenants)
    {
        var worker = Rent();
        try
        {
            var reader = worker.Reader;
            reader.Read(request, sink: null, tenants);
            if (reader.PointCount > 0 && reader.RefusedPointCount == reader.PointCount)
            {
                throw new OtlpRequestRefusedException(reader.PointCount == 1
                    ? $"its one data point is refused: {reader.DescribeFirstRefusal()}"
                    : $"all {reader.PointCount} of its data points are refused; the first: {reader.DescribeFirstRefusal()}");
            }
        }
        finally
        {
            _workers.Add(worker);
        }
    }

    /// <summary>
    /// Stores a request that passed <see cref="Check"/> (or was read back from the WAL). Refuses what
    /// <see cref="Check"/> would refuse, point by point, so a record logged by an older Vigil applies too.
    /// With a <paramref name="binding"/> (the ingest key's tenant) points claiming another tenant are
    /// refused and points naming none get the key's tenant.
    /// </summary>
    public IngestResult Apply(ReadOnlySpan<byte> request, TenantBinding? binding = null) => Apply(request, binding, observeArrival: true);

    private IngestResult Apply(ReadOnlySpan<byte> request, TenantBinding? binding, bool observeArrival)
    {
        var worker = Rent();
        try
        {
            worker.Session.Reset(binding, observeArrival);
            worker.Reader.Read(request, worker.Session);
            worker.Session.ReportStats(Store.Stats);
            return new IngestResult(worker.Session.Accepted, worker.Session.Rejected, worker.Session.ErrorMessage());
        }
        finally
        {
            _workers.Add(worker);
        }
    }

    /// <summary>Stores a WAL record: the request with the binding it was logged with (<see cref="TenantBinding.WalPrefix"/>).</summary>
    /// <exception cref="OtlpFormatException">The record is damaged.</exception>
    public IngestResult ApplyLogged(ReadOnlySpan<byte> record)
    {
        var binding = TenantBinding.FromWalRecord(record, out var request);

        // A replayed point arrived when it was logged, not now: its lag would say nothing about the senders.
        return Apply(request, binding, observeArrival: false);
    }

    private Worker Rent() => _workers.TryTake(out var worker) ? worker : new Worker(Store);

    private sealed class Worker(WindowStore store)
    {
        public OtlpMetricsReader Reader { get; } = new();

        public IngestSession Session { get; } = new(store);
    }
}
