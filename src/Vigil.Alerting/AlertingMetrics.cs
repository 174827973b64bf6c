namespace Vigil.Alerting;

/// <summary>
/// Delivery self-metrics at one instant. Counters are per event and receiver since this process started
/// (a batch of 3 events that fails counts 3 failed attempts); <see cref="ReceiverMetrics.Pending"/> is a gauge read
/// from the outbox.
/// </summary>
public sealed record AlertingMetricsSnapshot(
    IReadOnlyList<ReceiverMetrics> Receivers,
    long EventsRecorded,
    long OutboxWriteFailures,
    long StreamDropped,
    int StreamSubscribers,
    long ResendFailures);

public sealed record ReceiverMetrics(string Receiver, long Delivered, long FailedAttempts, long Expired, long Pending);

/// <summary>Per-receiver counters, updated by the outbox as deliveries finish.</summary>
internal sealed class ReceiverCounters
{
    private long _delivered;
    private long _failedAttempts;
    private long _expired;

    public long Delivered => Interlocked.Read(ref _delivered);

    public long FailedAttempts => Interlocked.Read(ref _failedAttempts);

    public long Expired => Interlocked.Read(ref _expired);

    public void AddDelivered(long n) => Interlocked.Add(ref _delivered, n);

    public void AddFailed(long n) => Interlocked.Add(ref _failedAttempts, n);

    public void AddExpired(long n) => Interlocked.Add(ref _expired, n);
}
