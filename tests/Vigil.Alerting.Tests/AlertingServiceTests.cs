using System.Diagnostics.Metrics;
using Vigil.Rules;

namespace Vigil.Alerting.Tests;

public sealed class AlertingServiceTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Started_DeliversInTheBackground_StreamsAndCountsEachEvent()
    {
        var receiver = new SignallingReceiver("extra");
        await using var service = new AlertingService(new AlertingOptions(), _dir.Path, TimeProvider.System, additionalReceivers: [receiver]);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var live = service.Stream.Subscribe(cts.Token).GetAsyncEnumerator(cts.Token);
        await service.StartAsync();
        var now = DateTimeOffset.UtcNow;

        service.OnTransition(Transitions.Firing(now, "A", Severity.P2));
        var delivered = await receiver.First.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await service.StopAsync();

        Assert.Equal("A", delivered.Rule);
        Assert.True(await live.MoveNextAsync());
        Assert.Equal(delivered.Id, live.Current.Id);
        var metrics = service.GetMetrics();
        Assert.Equal(1, metrics.EventsRecorded);
        Assert.Equal(new ReceiverMetrics("extra", 1, 0, 0, 0), metrics.Receivers.Single());
        Assert.Equal(1, metrics.StreamSubscribers);
        await live.DisposeAsync();
    }

    [Fact]
    public async Task Instruments_ReportPerReceiverCounters()
    {
        var time = Transitions.Clock();
        await using var service = new AlertingService(new AlertingOptions(), _dir.Path, time,
            additionalReceivers: [new RecordingReceiver("ok"), new RecordingReceiver("broken", alwaysFail: true)]);
        using var meter = new Meter("Vigil.Alerting.Tests." + Guid.NewGuid().ToString("N"));
        service.RegisterInstruments(meter);
        service.OnTransition(Transitions.Firing(time.GetUtcNow(), "A"));
        foreach (var worker in service.Workers)
        {
            await worker.RunOnceAsync(time.GetUtcNow());
        }

        var seen = new Dictionary<(string, string), long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter == meter)
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var receiver = tags.ToArray().FirstOrDefault(t => t.Key == "receiver").Value as string ?? "-";
            seen[(instrument.Name, receiver)] = value;
        });
        listener.Start();
        listener.RecordObservableInstruments();

        Assert.Equal(1, seen[("vigil.alert.deliveries.delivered", "ok")]);
        Assert.Equal(0, seen[("vigil.alert.deliveries.delivered", "broken")]);
        Assert.Equal(1, seen[("vigil.alert.deliveries.failed", "broken")]);
        Assert.Equal(1, seen[("vigil.alert.deliveries.pending", "broken")]);
        Assert.Equal(1, seen[("vigil.alert.events", "-")]);
    }

    private sealed class SignallingReceiver(string name) : IAlertReceiver
    {
        public string Name { get; } = name;

        public TaskCompletionSource<AlertEvent> First { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task DeliverAsync(IReadOnlyList<AlertEvent> events, CancellationToken cancellationToken)
        {
            First.TrySetResult(events[0]);
            return Task.CompletedTask;
        }
    }
}
