using Vigil.Otlp.Wire;

namespace Vigil.Storage.Durability;

/// <summary>
/// Where a transport hands an OTLP metrics request: checked whole, made durable, then stored. The one
/// call between the collector's admission and storage (<see cref="DurableIngest"/> implements it).
/// </summary>
public interface IMetricSink
{
    /// <summary>
    /// Checks <paramref name="request"/> (protobuf), asks <paramref name="admission"/>, logs it to the
    /// WAL with <paramref name="binding"/> and applies it; completes once it is durable and stored.
    /// Returns null when the admission refused it (nothing was logged or stored).
    /// </summary>
    /// <exception cref="OtlpFormatException">Not a valid OTLP metrics request; nothing was stored.</exception>
    /// <exception cref="OtlpRequestRefusedException">Every point of it is refused for its content; nothing was logged.</exception>
    /// <exception cref="Wal.WalUnavailableException">It cannot be made durable now (a full disk, recovery still running): retry later.</exception>
    ValueTask<IngestResult?> WriteAsync(ReadOnlyMemory<byte> request, TenantBinding? binding, IIngestAdmission? admission, CancellationToken cancellationToken);
}

/// <summary>
/// An admission decided from the check pass's point counts per tenant (the collector's tenant rate
/// limit): asked after the request checked out and before it is logged.
/// </summary>
public interface IIngestAdmission
{
    /// <summary>Filled by the check pass; the admission resets it for the request's binding.</summary>
    TenantPointCounts Counts { get; }

    /// <summary>False refuses the request whole: nothing of it reaches the WAL or the store.</summary>
    bool Admit();
}
