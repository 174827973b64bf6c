using System.Threading.Channels;
using Vigil.Alerting.Implementation;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Vigil.Alerting;

/// <summary>
/// Re-sends firing alerts to every Alertmanager, as Prometheus does, so an alert stays active there while it fires
/// (each send pushes endsAt to now + validity) and ends by itself if Vigil disappears; and re-sends resolved alerts for
/// <see cref="ResolvedRetention"/>, so a stray firing update (an HA twin's send that crossed this one's resolve) is
/// corrected.
/// <para>
/// Re-sends follow the rule engine's evaluations (<see cref="OnEvaluated"/>): right after a group evaluates, its alerts
/// whose last send is an interval old are sent with the state that evaluation confirmed. Two Vigils evaluate a group on
/// the same grid instants, so over the same data neither re-sends "firing" after the other resolved; a re-send taken on
/// a free-running timer could (it carries the state of the last evaluation, which may be a whole interval behind the
/// twin's). A timer remains as a fallback for alerts no evaluation confirmed for two intervals (a stalled group).
/// </para>
/// Tracks alerts from the events it observes and persists nothing: after a restart, <see cref="Seed"/> it with the rule
/// engine's restored firing alerts. Sends are best effort (the next evaluation retries); the firing and resolved events
/// themselves go through the outbox.
/// </summary>
public sealed class AlertmanagerResender : IAsyncDisposable
{
    /// <summary>How long a resolved alert keeps being re-sent (Prometheus keeps resolved alerts for 15 minutes).</summary>
    public static readonly TimeSpan ResolvedRetention = TimeSpan.FromMinutes(15);

    private readonly IReadOnlyList<IAlertReceiver> _alertmanagers;
    private readonly TimeSpan _interval;
    private readonly TimeSpan _tolerance;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Tracked> _firing = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Tracked> _resolved = new(StringComparer.Ordinal);

    // When each group last evaluated: the fallback is for stalled groups only. An alert whose group evaluated lately
    // and did not find it firing (it resolved there, its event not recorded yet) must not go out as firing.
    private readonly Dictionary<string, DateTimeOffset> _evaluatedAt = new(StringComparer.Ordinal);

    // Evaluations hand their due alerts over without waiting on the network; a backlog drops its oldest batch
    // (those alerts are due again at the next evaluation, and the fallback covers two intervals).
    private readonly Channel<IReadOnlyList<AlertEvent>> _due = Channel.CreateBounded<IReadOnlyList<AlertEvent>>(
        new BoundedChannelOptions(64) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });

    private long _failures;
    private readonly BackgroundLoop _loop = new("the Alertmanager resender");
    private readonly BackgroundLoop _fallback = new("the Alertmanager resender's fallback");

    public AlertmanagerResender(IEnumerable<IAlertReceiver> alertmanagers, TimeSpan resendInterval, TimeProvider timeProvider, ILogger? logger = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(resendInterval, TimeSpan.Zero);
        _alertmanagers = alertmanagers.ToList();
        _interval = resendInterval;
        // Evaluations land on a grid but sends are stamped a few milliseconds after it: a tenth of the interval of slack
        // keeps "one interval since the last send" from slipping to the evaluation after.
        _tolerance = resendInterval / 10;
        _time = timeProvider;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Failed re-sends (per Alertmanager and batch) since start.</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>The alerts currently being re-sent as firing, by fingerprint order.</summary>
    public IReadOnlyList<AlertEvent> Firing
    {
        get
        {
            lock (_gate)
            {
                return _firing.Values.Select(t => t.Event).OrderBy(e => e.Fingerprint, StringComparer.Ordinal).ToList();
            }
        }
    }

    /// <summary>An event the outbox recorded (and delivers): it is this alert's latest state.</summary>
    public void Observe(AlertEvent e)
    {
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            if (e.Status == AlertStatus.Firing)
            {
                _resolved.Remove(e.Fingerprint);
                _firing[e.Fingerprint] = new Tracked(e, now);
            }
            else
            {
                _firing.Remove(e.Fingerprint);
                _resolved[e.Fingerprint] = new Tracked(e, now) { ResolvedAt = now };
            }
        }
    }

    /// <summary>
    /// Adds alerts that were firing before a restart (events with status firing; others are ignored). An alert already
    /// observed since is left alone: that event is newer than the snapshot the seed was taken from.
    /// </summary>
    public void Seed(IEnumerable<AlertEvent> firing)
    {
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            foreach (var e in firing.Where(e => e.Status == AlertStatus.Firing))
            {
                if (!_firing.ContainsKey(e.Fingerprint) && !_resolved.ContainsKey(e.Fingerprint))
                {
                    // Never sent by this process: due at the group's first evaluation.
                    _firing[e.Fingerprint] = new Tracked(e, DateTimeOffset.MinValue);
                }
            }
        }
    }

    /// <summary>
    /// Group <paramref name="group"/> has just evaluated and found <paramref name="firingFingerprints"/> firing: takes
    /// its alerts that are due (an interval since their last send) and hands them to the send loop.
    /// </summary>
    public void OnEvaluated(string group, IReadOnlySet<string> firingFingerprints)
    {
        var due = TakeDue(group, firingFingerprints);
        if (due.Count > 0)
        {
            _due.Writer.TryWrite(due);
        }
    }

    /// <summary>
    /// The alerts of <paramref name="group"/> due for a re-send after an evaluation that found
    /// <paramref name="firingFingerprints"/> firing, marked as sent now: firing ones that evaluation confirmed, and
    /// resolved ones (within <see cref="ResolvedRetention"/>) it did not find firing again.
    /// </summary>
    public IReadOnlyList<AlertEvent> TakeDue(string group, IReadOnlySet<string> firingFingerprints)
    {
        var now = _time.GetUtcNow();
        var due = new List<AlertEvent>();
        lock (_gate)
        {
            _evaluatedAt[group] = now;
            foreach (var (fingerprint, tracked) in _firing)
            {
                if (tracked.Event.Group == group && firingFingerprints.Contains(fingerprint) && IsDue(tracked, now, _interval))
                {
                    tracked.LastSent = now;
                    due.Add(tracked.Event);
                }
            }

            foreach (var (fingerprint, tracked) in _resolved.ToList())
            {
                if (now - tracked.ResolvedAt > ResolvedRetention)
                {
                    _resolved.Remove(fingerprint);
                }
                else if (tracked.Event.Group == group && !firingFingerprints.Contains(fingerprint) && IsDue(tracked, now, _interval))
                {
                    tracked.LastSent = now;
                    due.Add(tracked.Event);
                }
            }
        }

        return due;
    }

    /// <summary>Sends every firing alert to every Alertmanager now, each independently. Returns how many Alertmanagers failed.</summary>
    public Task<int> RunOnceAsync(CancellationToken cancellationToken = default)
    {
        var now = _time.GetUtcNow();
        List<AlertEvent> firing;
        lock (_gate)
        {
            foreach (var tracked in _firing.Values)
            {
                tracked.LastSent = now;
            }

            firing = _firing.Values.Select(t => t.Event).OrderBy(e => e.Fingerprint, StringComparer.Ordinal).ToList();
        }

        return SendAsync(firing, cancellationToken);
    }

    /// <summary>
    /// Sends <paramref name="events"/> to every Alertmanager, each independently, minus any that a newer event has
    /// overtaken meanwhile (re-checked just before sending). Returns how many Alertmanagers failed.
    /// </summary>
    public async Task<int> SendAsync(IReadOnlyList<AlertEvent> events, CancellationToken cancellationToken = default)
    {
        List<AlertEvent> current;
        lock (_gate)
        {
            current = events.Where(e => ReferenceEquals((e.Status == AlertStatus.Firing ? _firing : _resolved).GetValueOrDefault(e.Fingerprint)?.Event, e)).ToList();
        }

        if (current.Count == 0)
        {
            return 0;
        }

        var results = await Task.WhenAll(_alertmanagers.Select(async am =>
        {
            try
            {
                await am.DeliverAsync(current, cancellationToken);
                return 0;
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                Interlocked.Increment(ref _failures);
                _logger.LogWarning("Re-sending {Count} alerts to {Receiver} failed: {Error}; they are sent again after the next evaluation", current.Count,
                    am.Name, ex.Message);
                return 1;
            }
        }));
        return results.Sum();
    }

    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        _loop.Start(SendLoopAsync);
        _fallback.Start(FallbackLoopAsync);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        await _fallback.StopAsync(cancellationToken);
        await _loop.StopAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    private bool IsDue(Tracked tracked, DateTimeOffset now, TimeSpan interval) =>
        tracked.LastSent == DateTimeOffset.MinValue || now - tracked.LastSent >= interval - _tolerance;

    private async Task SendLoopAsync(CancellationToken stop)
    {
        try
        {
            await foreach (var batch in _due.Reader.ReadAllAsync(stop))
            {
                await SendAsync(batch, stop);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopped.
        }
    }

    /// <summary>
    /// The fallback's batch, marked as sent now: firing alerts not sent for two intervals whose group has not evaluated
    /// for two intervals either (stalled, or gone with a reload). An alert of a group that evaluates is its evaluations' to send.
    /// </summary>
    public IReadOnlyList<AlertEvent> TakeStale()
    {
        var now = _time.GetUtcNow();
        var stale = new List<AlertEvent>();
        lock (_gate)
        {
            foreach (var tracked in _firing.Values.Where(t => IsDue(t, now, 2 * _interval)))
            {
                if (_evaluatedAt.TryGetValue(tracked.Event.Group, out var evaluated) && now - evaluated < (2 * _interval) - _tolerance)
                {
                    continue;
                }

                tracked.LastSent = now;
                stale.Add(tracked.Event);
            }
        }

        return stale;
    }

    /// <summary>Firing alerts no evaluation re-sent for two intervals (their group is stalled or gone) still go out.</summary>
    private async Task FallbackLoopAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(_interval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                var stale = TakeStale();
                if (stale.Count > 0)
                {
                    _due.Writer.TryWrite(stale);
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopped.
        }
    }

    private sealed class Tracked(AlertEvent e, DateTimeOffset lastSent)
    {
        public AlertEvent Event { get; } = e;

        public DateTimeOffset LastSent { get; set; } = lastSent;

        public DateTimeOffset ResolvedAt { get; init; }
    }
}
