using Google.Protobuf;
using Vigil.Otlp.Proto.Metrics;
using Vigil.Otlp.Wire;
using static Vigil.Otlp.Tests.Otlp;

namespace Vigil.Otlp.Tests;

/// <summary>One walk per request: the check indexes the points and the sink is fed from the index.</summary>
public sealed class OtlpMetricsReaderIndexTests
{
    /// <summary>The request with a last resource whose only point has a truncated time (fixed64 of 3 bytes).</summary>
    private static byte[] GoodThenMalformed()
    {
        var good = RequestMessage([Attr("service.name", "a")], Gauge("g", Double(1), Double(2)));
        var badPoint = Fields(Message(1, [(3 << 3) | 1, 1, 2, 3])); // time_unix_nano, fixed64, 3 of its 8 bytes
        var badMetric = Fields(String(1, "bad"), Message(5, badPoint));
        var badResource = Fields(Message(2, Fields(Message(2, badMetric))));
        return [.. good.ToByteArray(), .. Fields(Message(1, badResource))];
    }

    [Fact]
    public void MalformedLastResource_Throws_BeforeTheSinkSeesAnything()
    {
        var sink = new RecordingSink();

        Assert.Throws<OtlpFormatException>(() => new OtlpMetricsReader().Read(GoodThenMalformed(), sink));

        Assert.Empty(sink.Resources);
        Assert.Empty(sink.Metrics);
        Assert.Empty(sink.Points);
        Assert.Empty(sink.Refusals);
    }

    [Fact]
    public void Replay_AfterAFailedRead_IsRefused()
    {
        var reader = new OtlpMetricsReader();
        var request = GoodThenMalformed();
        Assert.Throws<OtlpFormatException>(() => reader.Read(request, sink: null));

        Assert.Throws<InvalidOperationException>(() => reader.Replay(request, new RecordingSink()));
    }

    [Fact]
    public void Replay_OfOtherBytes_IsRefused()
    {
        var reader = new OtlpMetricsReader();
        reader.Read(Request(Gauge("g", Double(1))), sink: null);

        Assert.Throws<InvalidOperationException>(() => reader.Replay(Request(Gauge("g", Double(1), Double(2))), new RecordingSink()));
    }

    [Fact]
    public void Replay_HandsOverWhatTheWalkIndexed_InRequestOrder_AndCanRepeat()
    {
        var request = Request(
            [Attr("service.name", "svc")],
            Gauge("temperature", Double(21.5, Attr("room", "a")), Double(19, Attr("room", "b"))),
            Sum("requests", AggregationTemporality.Delta, true, Int(3, Attr("route", "/x"))));
        var reader = new OtlpMetricsReader();
        reader.Read(request, sink: null);

        for (var round = 0; round < 2; round++)
        {
            var sink = new RecordingSink();
            reader.Replay(request, sink);

            Assert.Equal("svc", Assert.Single(sink.Resources)["service.name"]);
            Assert.Equal(["temperature", "requests"], sink.Metrics.Select(m => m.Name));
            Assert.Equal(Temporality.Delta, sink.Metrics[1].Temporality);
            Assert.True(sink.Metrics[1].IsMonotonic);
            Assert.Equal([21.5, 19, 3], sink.Points.Select(p => p.Value!.Value));
            Assert.Equal(["a", "b"], sink.Points.Take(2).Select(p => p.Attributes["room"]));
            Assert.All(sink.Points, p => Assert.Equal(Time, p.Time));
        }
    }

    [Fact]
    public void RefusedPoints_ReachTheSinkAsRefusals()
    {
        // A value-less point is refused by the content rules; the points around it still arrive.
        var noValue = new NumberDataPoint { StartTimeUnixNano = Start, TimeUnixNano = Time };
        var request = Request(Gauge("g", Double(1), noValue, noValue, Double(4)));
        var sink = new RecordingSink();

        new OtlpMetricsReader().Read(request, sink);

        Assert.Equal([1.0, 4.0], sink.Points.Select(p => p.Value!.Value));
        Assert.Equal(2, sink.Refusals.Count);
        Assert.All(sink.Refusals, r => Assert.Equal(sink.Refusals[0], r));
    }

    [Fact]
    public void MetricWithoutPoints_ReachesNoSink()
    {
        var request = Request(Gauge("empty"), Gauge("g", Double(2)));
        var sink = new RecordingSink();

        new OtlpMetricsReader().Read(request, sink);

        Assert.Equal("g", Assert.Single(sink.Metrics).Name);
        Assert.Equal(2.0, Assert.Single(sink.Points).Value!.Value);
    }

    [Fact]
    public void AFloodOfRefusedPoints_CostsNoIndexPerPoint()
    {
        // 100,000 empty points (2 bytes each on the wire): each is refused, and a run of one reason is one entry.
        var gauge = new Gauge();
        for (var i = 0; i < 100_000; i++)
        {
            gauge.DataPoints.Add(new NumberDataPoint());
        }

        var request = Request(new Metric { Name = "flood", Gauge = gauge });
        var reader = new OtlpMetricsReader();

        var before = GC.GetAllocatedBytesForCurrentThread();
        reader.Read(request, sink: null);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(100_000, reader.RefusedPointCount);
        Assert.True(allocated < 16 * 1024, $"indexing {request.Length} bytes of refused points allocated {allocated} bytes");
    }
}
