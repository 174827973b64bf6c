using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace Vigil.Alerting;

/// <summary>
/// Live fan-out of alert events for server-sent events. Every subscriber has a bounded buffer; a subscriber that
/// falls behind loses its oldest events (counted in <see cref="Dropped"/>) rather than slowing the rule engine or other
/// subscribers. Live only: history is the outbox's job.
/// </summary>
public sealed class AlertStream
{
    private readonly Lock _gate = new();
    private readonly List<Channel<AlertEvent>> _subscribers = [];
    private readonly int _capacity;
    private long _dropped;

    public AlertStream(int capacityPerSubscriber = 256)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacityPerSubscriber, 1);
        _capacity = capacityPerSubscriber;
    }

    public long Dropped => Interlocked.Read(ref _dropped);

    public int Subscribers
    {
        get
        {
            lock (_gate)
            {
                return _subscribers.Count;
            }
        }
    }

    public void Publish(AlertEvent e)
    {
        lock (_gate)
        {
            foreach (var subscriber in _subscribers)
            {
                subscriber.Writer.TryWrite(e);
            }
        }
    }

    /// <summary>
    /// Every event published from this call on, in order, until <paramref name="cancellationToken"/> is cancelled or the
    /// enumeration is disposed. The subscription starts here, not at the first MoveNextAsync, so nothing published in between is missed.
    /// </summary>
    public IAsyncEnumerable<AlertEvent> Subscribe(CancellationToken cancellationToken)
    {
        var channel = Channel.CreateBounded<AlertEvent>(
            new BoundedChannelOptions(_capacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true },
            _ => Interlocked.Increment(ref _dropped));
        lock (_gate)
        {
            _subscribers.Add(channel);
        }

        var registration = cancellationToken.Register(() => Remove(channel));
        return Read(channel, registration, cancellationToken);
    }

    private async IAsyncEnumerable<AlertEvent> Read(Channel<AlertEvent> channel, CancellationTokenRegistration registration,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        try
        {
            while (await channel.Reader.WaitToReadAsync(cancellationToken))
            {
                while (channel.Reader.TryRead(out var e))
                {
                    yield return e;
                }
            }
        }
        finally
        {
            await registration.DisposeAsync();
            Remove(channel);
        }
    }

    private void Remove(Channel<AlertEvent> channel)
    {
        lock (_gate)
        {
            _subscribers.Remove(channel);
        }

        channel.Writer.TryComplete();
    }
}
