using Vigil.Alerting.Implementation;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Vigil.Alerting;

/// <summary>
/// Re-sends every firing alert to every Alertmanager each resend interval, as Prometheus does, so an alert stays
/// active there while it fires (each send pushes endsAt to now + validity) and ends by itself if Vigil disappears.
/// Tracks firing alerts from the events it observes (firing adds, resolved removes) and persists nothing: after a
/// restart, <see cref="Seed"/> it with the rule engine's restored firing alerts. Re-sends are best effort (the next
/// interval retries); the firing and resolved events themselves go through the outbox.
/// </summary>
public sealed class AlertmanagerResender : IAsyncDisposable
{
    private readonly IReadOnlyList<IAlertReceiver> _alertmanagers;
    private readonly TimeSpan _interval;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, AlertEvent> _firing = new(StringComparer.Ordinal);
    private long _failures;
    private readonly BackgroundLoop _loop = new("the Alertmanager resender");

    public AlertmanagerResender(IEnumerable<IAlertReceiver> alertmanagers, TimeSpan resendInterval, TimeProvider timeProvider, ILogger? logger = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(resendInterval, TimeSpan.Zero);
        _alertmanagers = alertmanagers.ToList();
        _interval = resendInterval;
        _time = timeProvider;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Failed re-sends (per Alertmanager and interval) since start.</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>The alerts currently being re-sent, by fingerprint order.</summary>
    public IReadOnlyList<AlertEvent> Firing
    {
        get
        {
            lock (_gate)
            {
                return _firing.Values.OrderBy(e => e.Fingerprint, StringComparer.Ordinal).ToList();
            }
        }
    }

    public void Observe(AlertEvent e)
    {
        lock (_gate)
        {
            if (e.Status == AlertStatus.Firing)
            {
                _firing[e.Fingerprint] = e;
            }
            else
            {
                _firing.Remove(e.Fingerprint);
            }
        }
    }

    /// <summary>Adds alerts that were firing before a restart (events with status firing; others are ignored).</summary>
    public void Seed(IEnumerable<AlertEvent> firing)
    {
        foreach (var e in firing.Where(e => e.Status == AlertStatus.Firing))
        {
            Observe(e);
        }
    }

    /// <summary>Sends the firing set to every Alertmanager, each independently. Returns how many Alertmanagers failed.</summary>
    public async Task<int> RunOnceAsync(CancellationToken cancellationToken = default)
    {
        var firing = Firing;
        if (firing.Count == 0)
        {
            return 0;
        }

        var results = await Task.WhenAll(_alertmanagers.Select(async am =>
        {
            try
            {
                await am.DeliverAsync(firing, cancellationToken);
                return 0;
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                Interlocked.Increment(ref _failures);
                _logger.LogWarning("Re-sending {Count} firing alerts to {Receiver} failed: {Error}; next try in {Interval}", firing.Count, am.Name,
                    ex.Message, _interval);
                return 1;
            }
        }));
        return results.Sum();
    }

    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        _loop.Start(LoopAsync);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken = default) => _loop.StopAsync(cancellationToken);

    public async ValueTask DisposeAsync() => await StopAsync();

    private async Task LoopAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(_interval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                await RunOnceAsync(stop);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopped.
        }
    }
}
