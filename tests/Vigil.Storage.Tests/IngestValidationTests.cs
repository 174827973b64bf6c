using Google.Protobuf;
using Vigil.Otlp.Proto.Common;
using Vigil.Otlp.Proto.Metrics;
using Vigil.Otlp.Wire;
using Vigil.Storage.Query;
using static Vigil.Storage.Tests.StoreHarness;

namespace Vigil.Storage.Tests;

public sealed class IngestValidationTests
{
    /// <summary>Tag (wire type 2) + length + body: for hand-made encodings the generated types refuse to produce.</summary>
    private static byte[] Field(int number, byte[] body)
    {
        using var buffer = new MemoryStream();
        var output = new CodedOutputStream(buffer);
        output.WriteTag(number, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFrom(body));
        output.Flush();
        return buffer.ToArray();
    }

    /// <summary>One resource_metrics holding one metric whose gauge holds the given raw data point.</summary>
    private static byte[] ResourceWithRawGaugePoint(string name, byte[] point) =>
        Field(1, Field(2, Field(2, [.. Field(1, System.Text.Encoding.UTF8.GetBytes(name)), .. Field(5, Field(1, point))])));

    [Fact]
    public void MalformedRequest_StoresNothing_EvenFromItsValidMetrics()
    {
        var h = new StoreHarness();
        var valid = Request([], Gauge("ok", Point(0, At(1), 1))).ToByteArray();

        // A second resource_metrics whose data point has as_double with the wrong wire type.
        byte[] badPoint = [0x19, .. BitConverter.GetBytes(At(1)), 0x20, 0x05];
        byte[] request = [.. valid, .. ResourceWithRawGaugePoint("bad", badPoint)];

        var error = Assert.Throws<OtlpFormatException>(() => h.Ingest.Ingest(request));

        Assert.Contains("resource_metrics[1].scope_metrics[0].metrics[0].gauge.data_points[0]", error.Message, StringComparison.Ordinal);
        Assert.Contains("as_double", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, h.Store.MetricCount);
        Assert.Equal(0, h.Store.SeriesCount);
        Assert.Equal(0, h.Store.Stats.Accepted);
    }

    [Fact]
    public void TruncatedRequest_StoresNothing()
    {
        var h = new StoreHarness();
        var request = Request([], Gauge("a", Point(0, At(1), 1)), Gauge("b", Point(0, At(1), 1))).ToByteArray();

        Assert.Throws<OtlpFormatException>(() => h.Ingest.Ingest(request.AsSpan(0, request.Length - 4)));

        Assert.Equal(0, h.Store.MetricCount);
    }

    [Fact]
    public void MalformedNestedAttribute_StoresNothing_AndLeavesTheStoreUsable()
    {
        var h = new StoreHarness();
        var valid = Request([], Gauge("ok", Point(0, At(1), 1))).ToByteArray();

        // An array attribute whose one element claims 9 bytes but has 1: only a deep walk sees it.
        byte[] keyValue = [.. Field(1, "arr"u8.ToArray()), .. Field(2, Field(5, [0x0A, 0x09, 0x01]))];
        byte[] point = [0x19, .. BitConverter.GetBytes(At(1)), 0x21, .. BitConverter.GetBytes(1.0), .. Field(7, keyValue)];
        byte[] request = [.. valid, .. ResourceWithRawGaugePoint("g", point)];

        Assert.Throws<OtlpFormatException>(() => h.Ingest.Ingest(request));

        Assert.Equal(0, h.Store.MetricCount);
        var ok = h.Send(Gauge("ok", Point(0, At(2), 5)));
        Assert.Equal(1, ok.Accepted);
        Assert.Equal(5, h.Value("ok", AggregateFunction.Last, TimeSpan.FromMinutes(1), T0.AddSeconds(2)));
    }

    [Fact]
    public void UnspecifiedTemporality_RefusesPointsWithAnActionableReason()
    {
        var h = new StoreHarness();

        var result = h.Send(Sum("c", AggregationTemporality.Unspecified, true, Point(0, At(1), 1)), Gauge("ok", Point(0, At(1), 1)));

        Assert.Equal(1, result.Rejected);
        Assert.Equal(1, result.Accepted);
        Assert.Contains("set DELTA or CUMULATIVE", result.ErrorMessage, StringComparison.Ordinal);
        Assert.Contains("e.g. metric \"c\"", result.ErrorMessage, StringComparison.Ordinal);
    }

    /// <summary>The request that bricked start-up: scale 0, positive.offset 2^31-1, buckets [1, 1, 1].</summary>
    private static Metric PoisonExponential(string name) =>
        Exponential(name, AggregationTemporality.Delta, ExponentialPoint(At(0), At(1), scale: 0, offset: int.MaxValue, positive: [1, 1, 1], sum: 3));

    [Fact]
    public void PoisonExponentialPoint_IsRefusedNamingItsField_AndTheRestOfTheRequestIsStored()
    {
        var h = new StoreHarness();

        var result = h.Send(Gauge("temperature", Point(0, At(1), 21.5)), PoisonExponential("latency"), Counter("c", AggregationTemporality.Delta, Point(At(0), At(1), 4)));

        Assert.Equal(2, result.Accepted);
        Assert.Equal(1, result.Rejected);
        Assert.Contains("positive.offset", result.ErrorMessage, StringComparison.Ordinal);
        Assert.Contains("e.g. metric \"latency\"", result.ErrorMessage, StringComparison.Ordinal);
        Assert.Equal(21.5, h.Value("temperature", AggregateFunction.Last, TimeSpan.FromMinutes(1), T0.AddSeconds(1)));
        Assert.Equal(4, h.Value("c", AggregateFunction.Increase, TimeSpan.FromMinutes(1), T0.AddSeconds(1)));
        Assert.Empty(h.Store.ListSeries("latency"));
    }

    [Fact]
    public void PoisonRequest_AppliedWithoutACheck_AsOnReplay_DoesNotThrow()
    {
        // WAL records written before this check existed reach Apply directly on replay.
        var h = new StoreHarness();
        var request = Request([], Gauge("temperature", Point(0, At(1), 21.5)), PoisonExponential("latency")).ToByteArray();

        var result = h.Ingest.Apply(request);

        Assert.Equal(new IngestResult(1, 1, result.ErrorMessage), result);
        Assert.Contains("positive.offset", result.ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void UncleanAttributeText_AppliedWithoutACheck_IsRefusedByTheReadersWalk()
    {
        // Apply walks the request whole before it stores anything (decision 031); a replayed unchecked record meets the text check there.
        var h = new StoreHarness();
        var marker = Point(0, At(1), 0, Attr("k", "nul\0"));
        marker.Flags = 1;
        var request = Request([], Gauge("g", Point(0, At(1), 1, Attr("k", "ok")), Point(0, At(1), 2, Attr("k", "nul\0")), marker)).ToByteArray();

        var result = h.Ingest.Apply(request);

        Assert.Equal(1, result.Accepted);
        Assert.Equal(2, result.Rejected);
        Assert.Contains("attributes: a key or string value", result.ErrorMessage, StringComparison.Ordinal);
        Assert.Single(h.Store.ListSeries("g"));
    }

    [Fact]
    public void RequestWhoseEveryPointIsInvalid_IsRefusedWhole_NamingTheFieldPath()
    {
        var h = new StoreHarness();
        var request = Request([], Gauge("ok.but.empty"), PoisonExponential("latency")).ToByteArray();

        var error = Assert.Throws<OtlpRequestRefusedException>(() => h.Ingest.Ingest(request));

        Assert.Contains("resource_metrics[0].scope_metrics[0].metrics[1].exponential_histogram.data_points[0]: positive.offset", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, h.Store.MetricCount);
        Assert.Equal(0, h.Store.Stats.Accepted);
    }

    [Fact]
    public void RequestWithoutPoints_IsNotRefusedWhole()
    {
        var h = new StoreHarness();

        Assert.Equal(new IngestResult(0, 0, null), h.Send(Gauge("no.points")));
    }

    [Fact]
    public void HistogramWhoseCountIsNotItsBucketSum_IsRefused_AndNothingOfItIsStored()
    {
        var h = new StoreHarness();
        var point = HistogramPoint(At(0), At(1), [1, 2], [1, 1, 1], sum: 3);
        point.Count = 5;

        var result = h.Send(Histogram("h", AggregationTemporality.Delta, point), Gauge("ok", Point(0, At(1), 1)));

        Assert.Equal(1, result.Rejected);
        Assert.Contains("count", result.ErrorMessage, StringComparison.Ordinal);
        Assert.Empty(h.Store.ListSeries("h"));
    }

    [Fact]
    public void NegativeDeltaOnAMonotonicSum_IsRefused_AndTheCounterKeepsItsValue()
    {
        var h = new StoreHarness();

        var result = h.Send(Counter("c", AggregationTemporality.Delta, Point(At(0), At(1), 5), Point(At(1), At(2), -3)));

        Assert.Equal(1, result.Accepted);
        Assert.Equal(1, result.Rejected);
        Assert.Contains("monotonic", result.ErrorMessage, StringComparison.Ordinal);
        Assert.Equal(5, h.Value("c", AggregateFunction.Increase, TimeSpan.FromMinutes(1), T0.AddSeconds(2)));
    }

    [Fact]
    public void InvalidUtf8MetricName_IsRefused_AndNoMetricIsCreated()
    {
        var h = new StoreHarness();

        // A gauge whose name is 'a', a UTF-8 lead byte, then '(' instead of its continuation byte; beside a valid one.
        byte[] point = [0x19, .. BitConverter.GetBytes(At(1)), 0x21, .. BitConverter.GetBytes(1.0)];
        byte[] badName = [0x61, 0xC3, 0x28];
        byte[] request = [.. Request([], Gauge("ok", Point(0, At(1), 1))).ToByteArray(), .. Field(1, Field(2, Field(2, [.. Field(1, badName), .. Field(5, Field(1, point))])))];

        var result = h.Ingest.Ingest(request);

        Assert.Equal(1, result.Accepted);
        Assert.Equal(1, result.Rejected);
        Assert.Contains("name", result.ErrorMessage, StringComparison.Ordinal);
        Assert.Contains("UTF-8", result.ErrorMessage, StringComparison.Ordinal);
        Assert.Equal(1, h.Store.MetricCount);
    }

    [Fact]
    public void EmptyRequest_AcceptsNothing()
    {
        Assert.Equal(new IngestResult(0, 0, null), new StoreHarness().Ingest.Ingest([]));
    }

    [Fact]
    public void IngestResults_DoNotLeakBetweenRequests()
    {
        var h = new StoreHarness();
        h.Send(Gauge("g", Point(0, At(-7200), 1)));

        var second = h.Send(Gauge("g", Point(0, At(1), 1)));

        Assert.Equal(new IngestResult(1, 0, null), second);
    }

    [Fact]
    public void ResourceIdentity_DoesNotLeakIntoTheNextRequest()
    {
        var h = new StoreHarness();
        h.Send([Attr("service.name", "a")], Gauge("g", Point(0, At(1), 1)));
        h.Send(Gauge("g", Point(0, At(2), 1)));

        var series = h.Store.ListSeries("g");

        Assert.Equal(2, series.Count);
        Assert.Contains(series, s => s.Labels.Count == 0);
    }
}
