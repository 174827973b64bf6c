using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Vigil.Alerting.Receivers;
using Vigil.Rules;

namespace Vigil.Alerting;

/// <summary>
/// Everything alerting, composed from <see cref="AlertingOptions"/>: the outbox (plug the service into the rule engine
/// as its <see cref="IAlertTransitionSink"/>), one <see cref="DeliveryWorker"/> per receiver, the Alertmanager
/// re-sender, the live <see cref="AlertStream"/> and history pruning. The collector constructs it, calls
/// <see cref="StartAsync"/> after the rule engine restored its state (and <see cref="Seed"/> with the firing alerts),
/// and <see cref="StopAsync"/> on shutdown.
/// </summary>
public sealed class AlertingService : IAlertTransitionSink, IAsyncDisposable
{
    private readonly AlertingOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly List<IAlertReceiver> _receivers = [];
    private readonly List<(AlertmanagerResender Resender, IReadOnlySet<Severity>? Filter)> _resenders = [];
    private readonly List<DeliveryWorker> _workers = [];
    private CancellationTokenSource? _stopping;
    private Task? _pruneLoop;

    public AlertingService(AlertingOptions options, string dataDirectory, TimeProvider timeProvider, ILoggerFactory? loggerFactory = null,
        HttpClient? httpClient = null, Random? random = null, IEnumerable<IAlertReceiver>? additionalReceivers = null)
    {
        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException("invalid alerting options:" + Environment.NewLine + string.Join(Environment.NewLine, problems), nameof(options));
        }

        _options = options;
        _time = timeProvider;
        loggerFactory ??= NullLoggerFactory.Instance;
        _logger = loggerFactory.CreateLogger<AlertingService>();
        _ownsHttp = httpClient is null;
        _http = httpClient ?? new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) });
        Factory = new AlertEventFactory(options.ExternalUrl, timeProvider);
        Stream = new AlertStream(options.StreamBuffer);

        var outboxReceivers = new List<OutboxReceiver>();
        foreach (var am in options.Alertmanagers)
        {
            var receiver = new AlertmanagerReceiver(am, _http, timeProvider, options.AlertmanagerValidity);
            var filter = OptionChecks.Filter(am.Severities);
            _receivers.Add(receiver);
            outboxReceivers.Add(new OutboxReceiver(receiver.Name, filter));
            _resenders.Add((new AlertmanagerResender([receiver], options.ResendInterval, timeProvider, loggerFactory.CreateLogger<AlertmanagerResender>()), filter));
        }

        foreach (var webhook in options.Webhooks)
        {
            var receiver = new WebhookReceiver(webhook, _http, timeProvider, options.ExternalUrl);
            _receivers.Add(receiver);
            outboxReceivers.Add(new OutboxReceiver(receiver.Name, OptionChecks.Filter(webhook.Severities)));
        }

        foreach (var otlp in options.OtlpLogs)
        {
            var receiver = new OtlpLogsReceiver(otlp, _http, timeProvider);
            _receivers.Add(receiver);
            outboxReceivers.Add(new OutboxReceiver(receiver.Name, OptionChecks.Filter(otlp.Severities)));
        }

        foreach (var receiver in additionalReceivers ?? [])
        {
            _receivers.Add(receiver);
            outboxReceivers.Add(new OutboxReceiver(receiver.Name));
        }

        Outbox = new AlertOutbox(dataDirectory, outboxReceivers, timeProvider, loggerFactory.CreateLogger<AlertOutbox>(), Factory);
        random ??= new Random();
        foreach (var receiver in _receivers)
        {
            _workers.Add(new DeliveryWorker(Outbox, receiver, options.Retry, timeProvider, loggerFactory.CreateLogger<DeliveryWorker>(),
                new Random(random.Next()), options.BatchSize));
        }

        Outbox.Recorded += OnRecorded;
    }

    public AlertOutbox Outbox { get; }

    public AlertStream Stream { get; }

    public AlertEventFactory Factory { get; }

    public IReadOnlyList<IAlertReceiver> Receivers => _receivers;

    public IReadOnlyList<DeliveryWorker> Workers => _workers;

    public IReadOnlyList<AlertmanagerResender> Resenders => _resenders.Select(r => r.Resender).ToList();

    /// <summary>The rule engine's sink: records the event durably, then streams it and wakes the delivery workers.</summary>
    public void OnTransition(AlertTransition transition) => Outbox.OnTransition(transition);

    /// <summary>After a restart: the alerts the rule engine restored as firing, for the Alertmanager re-sender.</summary>
    public void Seed(IEnumerable<AlertEvent> firing)
    {
        var events = firing.ToList();
        foreach (var (resender, filter) in _resenders)
        {
            resender.Seed(events.Where(e => filter is null || filter.Contains(e.Severity)));
        }
    }

    /// <summary>
    /// The rule engine's evaluation hook: the group's alerts found firing at that instant let each Alertmanager
    /// re-sender send what is due with the state just evaluated (see <see cref="AlertmanagerResender"/>).
    /// </summary>
    public void OnEvaluated(GroupEvaluation evaluation)
    {
        if (_resenders.Count == 0)
        {
            return;
        }

        var firing = evaluation.Active.Where(a => a.State == AlertState.Firing).Select(a => AlertFingerprint.Compute(a.Labels)).ToHashSet(StringComparer.Ordinal);
        foreach (var (resender, _) in _resenders)
        {
            resender.OnEvaluated(evaluation.Group, firing);
        }
    }

    /// <summary>History for <c>GET /api/v1/alerts/history</c>.</summary>
    public IReadOnlyList<AlertHistoryEntry> GetHistory(AlertHistoryQuery query) => Outbox.GetHistory(query);

    public AlertingMetricsSnapshot GetMetrics() =>
        Outbox.GetMetrics(Stream.Dropped, Stream.Subscribers, _resenders.Sum(r => r.Resender.Failures));

    /// <summary>Observable instruments over <see cref="GetMetrics"/> on <paramref name="meter"/> (tag <c>receiver</c>).</summary>
    public void RegisterInstruments(Meter meter)
    {
        IEnumerable<Measurement<long>> PerReceiver(Func<ReceiverMetrics, long> value) =>
            GetMetrics().Receivers.Select(r => new Measurement<long>(value(r), new KeyValuePair<string, object?>("receiver", r.Receiver)));

        meter.CreateObservableCounter("vigil.alert.deliveries.delivered", () => PerReceiver(r => r.Delivered), "{event}", "Alert events delivered, per receiver");
        meter.CreateObservableCounter("vigil.alert.deliveries.failed", () => PerReceiver(r => r.FailedAttempts), "{attempt}", "Failed delivery attempts (per event), per receiver");
        meter.CreateObservableCounter("vigil.alert.deliveries.expired", () => PerReceiver(r => r.Expired), "{event}", "Alert events given up after the max age, per receiver");
        meter.CreateObservableGauge("vigil.alert.deliveries.pending", () => PerReceiver(r => r.Pending), "{event}", "Alert events waiting in the outbox, per receiver");
        meter.CreateObservableCounter("vigil.alert.events", () => GetMetrics().EventsRecorded, "{event}", "Alert events recorded in the outbox");
        meter.CreateObservableCounter("vigil.alert.stream.dropped", () => Stream.Dropped, "{event}", "Events dropped for slow live-stream subscribers");
        meter.CreateObservableCounter("vigil.alert.resend.failures", () => _resenders.Sum(r => r.Resender.Failures), "{request}", "Failed re-sends of firing alerts to Alertmanager");
    }

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        foreach (var worker in _workers)
        {
            await worker.StartAsync(cancellationToken);
        }

        foreach (var (resender, _) in _resenders)
        {
            await resender.StartAsync(cancellationToken);
        }

        _stopping = new CancellationTokenSource();
        _pruneLoop = Task.Run(() => PruneLoopAsync(_stopping.Token), CancellationToken.None);
    }

    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (_stopping is not null)
        {
            await _stopping.CancelAsync();
            await (_pruneLoop ?? Task.CompletedTask);
            _stopping.Dispose();
            (_stopping, _pruneLoop) = (null, null);
        }

        await Task.WhenAll(_workers.Select(w => w.StopAsync(cancellationToken)).Concat(_resenders.Select(r => r.Resender.StopAsync(cancellationToken))));
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        foreach (var worker in _workers)
        {
            await worker.DisposeAsync();
        }

        // Only the receivers built here: additional receivers belong to the caller.
        foreach (var receiver in _receivers.Take(_options.Alertmanagers.Count + _options.Webhooks.Count + _options.OtlpLogs.Count).OfType<IDisposable>())
        {
            receiver.Dispose();
        }

        Outbox.Recorded -= OnRecorded;
        Outbox.Dispose();
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }

    private void OnRecorded(AlertEvent e)
    {
        Stream.Publish(e);
        foreach (var (resender, filter) in _resenders)
        {
            if (filter is null || filter.Contains(e.Severity))
            {
                resender.Observe(e);
            }
        }

        foreach (var worker in _workers)
        {
            worker.Signal();
        }
    }

    private async Task PruneLoopAsync(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromHours(1), _time);
        do
        {
            try
            {
                var pruned = Outbox.Prune(_time.GetUtcNow() - _options.HistoryRetention);
                if (pruned > 0)
                {
                    _logger.LogInformation("Alert history: pruned {Count} events older than {Retention}", pruned, _options.HistoryRetention);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                _logger.LogWarning(ex, "Alert history: pruning failed; will try again in an hour");
            }

            try
            {
                if (!await timer.WaitForNextTickAsync(stop))
                {
                    return;
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
        while (true);
    }
}
