using System.Collections.Concurrent;
using Vigil.Otlp.Wire;

namespace Vigil.Storage;

/// <summary>
/// The one ingest call behind both OTLP transports: checks the whole request, then applies it.
/// A malformed request changes nothing, so the sender may fix it and resend all of it. The check also
/// decides which points are refused for their content (<see cref="OtlpPointRules"/>), so the store never
/// meets a value it cannot take (decision 006). The request is walked once: the check keeps an index of
/// its points and the apply is fed from it (decision 031); <see cref="Prepare"/> keeps that index across
/// the write-ahead log append between the two.
/// </summary>
public sealed class OtlpIngest(WindowStore store)
{
    private readonly ConcurrentBag<PreparedRequest> _prepared = [];

    public WindowStore Store { get; } = store;

    /// <exception cref="OtlpFormatException">The body is not a valid OTLP metrics request; nothing was stored.</exception>
    public IngestResult Ingest(ReadOnlySpan<byte> request, TenantBinding? binding = null)
    {
        var prepared = Rent();
        try
        {
            prepared.Check(request, tenants: null);
            return prepared.Apply(request, binding, observeArrival: true);
        }
        finally
        {
            Return(prepared);
        }
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
        var prepared = Rent();
        try
        {
            prepared.Check(request, tenants);
        }
        finally
        {
            Return(prepared);
        }
    }

    /// <summary>
    /// Checks the request as <see cref="Check(ReadOnlySpan{byte}, TenantPointCounts?)"/> and keeps what the
    /// walk found, so <see cref="PreparedRequest.Apply"/> (after the WAL append) stores it without a second
    /// walk. Dispose the result to return it to the pool; it holds on to <paramref name="request"/> until then.
    /// </summary>
    /// <exception cref="OtlpFormatException">The body is not a valid OTLP metrics request.</exception>
    /// <exception cref="OtlpRequestRefusedException">Every one of its points is refused for its content.</exception>
    public PreparedRequest Prepare(ReadOnlyMemory<byte> request, TenantPointCounts? tenants = null)
    {
        var prepared = Rent();
        try
        {
            prepared.Check(request.Span, tenants);
            prepared.Hold(request);
            return prepared;
        }
        catch
        {
            Return(prepared);
            throw;
        }
    }

    /// <summary>
    /// Stores a request (read back from the WAL, or not checked before). It is walked whole first, so a
    /// malformed one stores nothing, and points are refused as <see cref="Check(ReadOnlySpan{byte})"/>
    /// would refuse them, one by one, so a record logged by an older Vigil applies too. With a
    /// <paramref name="binding"/> (the ingest key's tenant) points claiming another tenant are refused and
    /// points naming none get the key's tenant.
    /// </summary>
    /// <exception cref="OtlpFormatException">The body is not a valid OTLP metrics request; nothing was stored.</exception>
    public IngestResult Apply(ReadOnlySpan<byte> request, TenantBinding? binding = null) => Apply(request, binding, observeArrival: true);

    private IngestResult Apply(ReadOnlySpan<byte> request, TenantBinding? binding, bool observeArrival)
    {
        var prepared = Rent();
        try
        {
            prepared.Read(request);
            return prepared.Apply(request, binding, observeArrival);
        }
        finally
        {
            Return(prepared);
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

    private PreparedRequest Rent() => _prepared.TryTake(out var prepared) ? prepared : new PreparedRequest(this);

    internal void Return(PreparedRequest prepared) => _prepared.Add(prepared);

    /// <summary>
    /// A request that passed the check, with the index of its points (a pooled reader and session): apply
    /// it once, then dispose it. Not thread-safe.
    /// </summary>
    public sealed class PreparedRequest : IDisposable
    {
        private readonly OtlpIngest _owner;
        private readonly OtlpMetricsReader _reader = new();
        private readonly IngestSession _session;
        private ReadOnlyMemory<byte> _request;
        private bool _held;

        internal PreparedRequest(OtlpIngest owner)
        {
            _owner = owner;
            _session = new IngestSession(owner.Store);
        }

        /// <summary>Stores the checked request, from the index the check made.</summary>
        /// <param name="binding">The ingest key's tenant binding; null without keys.</param>
        public IngestResult Apply(TenantBinding? binding = null)
        {
            ObjectDisposedException.ThrowIf(!_held, this);
            return Apply(_request.Span, binding, observeArrival: true);
        }

        public void Dispose()
        {
            if (_held)
            {
                _held = false;
                _request = default;
                _owner.Return(this);
            }
        }

        internal void Hold(ReadOnlyMemory<byte> request)
        {
            _request = request;
            _held = true;
        }

        internal void Read(ReadOnlySpan<byte> request) => _reader.Read(request, sink: null);

        internal void Check(ReadOnlySpan<byte> request, TenantPointCounts? tenants)
        {
            _reader.Read(request, sink: null, tenants);
            if (_reader.PointCount > 0 && _reader.RefusedPointCount == _reader.PointCount)
            {
                throw new OtlpRequestRefusedException(_reader.PointCount == 1
                    ? $"its one data point is refused: {_reader.DescribeFirstRefusal()}"
                    : $"all {_reader.PointCount} of its data points are refused; the first: {_reader.DescribeFirstRefusal()}");
            }
        }

        internal IngestResult Apply(ReadOnlySpan<byte> request, TenantBinding? binding, bool observeArrival)
        {
            _session.Reset(binding, observeArrival);
            _reader.Replay(request, _session);
            _session.ReportStats(_owner.Store.Stats);
            return new IngestResult(_session.Accepted, _session.Rejected, _session.ErrorMessage());
        }
    }
}
