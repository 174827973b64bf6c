namespace Vigil.Alerting;

/// <summary>
/// A destination for alert events. <see cref="DeliverAsync"/> either delivers the whole batch or throws (the message
/// becomes the delivery's last error and the batch is retried); it must not swallow failures.
/// </summary>
public interface IAlertReceiver
{
    /// <summary>Stable across restarts: pending outbox rows are keyed by it.</summary>
    string Name { get; }

    Task DeliverAsync(IReadOnlyList<AlertEvent> events, CancellationToken cancellationToken);
}

/// <summary>A receiver answered with something other than success.</summary>
public sealed class AlertDeliveryException : Exception
{
    public AlertDeliveryException(string message)
        : base(message)
    {
    }

    public AlertDeliveryException(string message, Exception inner)
        : base(message, inner)
    {
    }

    public AlertDeliveryException()
    {
    }
}
