using Vigil.Rules;

namespace Vigil.Alerting.Tests;

public sealed class AlertStreamTests
{
    private static readonly AlertEventFactory Factory = new("https://vigil.example.com", Transitions.Clock());

    [Fact]
    public async Task TwoSubscribers_BothReceiveEveryEvent_InOrder()
    {
        var stream = new AlertStream();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var first = stream.Subscribe(cts.Token);
        var second = stream.Subscribe(cts.Token);
        var events = Enumerable.Range(0, 5).Select(i => Event($"A{i}")).ToList();

        foreach (var e in events)
        {
            stream.Publish(e);
        }

        Assert.Equal(2, stream.Subscribers);
        Assert.Equal(events.Select(e => e.Id), (await Take(first, 5)).Select(e => e.Id));
        Assert.Equal(events.Select(e => e.Id), (await Take(second, 5)).Select(e => e.Id));
    }

    [Fact]
    public async Task SlowSubscriber_LosesTheOldestEvents_Counted_WithoutAffectingOthers()
    {
        var stream = new AlertStream(capacityPerSubscriber: 3);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var slow = stream.Subscribe(cts.Token);
        var events = Enumerable.Range(0, 5).Select(i => Event($"A{i}")).ToList();

        foreach (var e in events)
        {
            stream.Publish(e);
        }

        Assert.Equal(2, stream.Dropped);
        Assert.Equal(["A2", "A3", "A4"], (await Take(slow, 3)).Select(e => e.Rule));
    }

    [Fact]
    public async Task EndingTheEnumeration_Unsubscribes()
    {
        var stream = new AlertStream();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var subscription = stream.Subscribe(cts.Token);
        stream.Publish(Event("A"));

        await Take(subscription, 1);

        Assert.Equal(0, stream.Subscribers);
    }

    private static AlertEvent Event(string rule) => Factory.Create(Transitions.Firing(Transitions.Start, rule, Severity.P2))!;

    private static async Task<List<AlertEvent>> Take(IAsyncEnumerable<AlertEvent> source, int n)
    {
        var list = new List<AlertEvent>();
        await foreach (var e in source)
        {
            list.Add(e);
            if (list.Count == n)
            {
                break;
            }
        }

        return list;
    }
}
