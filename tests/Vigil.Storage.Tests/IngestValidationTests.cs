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

        var result = h.Send(Sum("c", AggregationTemporality.Unspecified, true, Point(0, At(1), 1)));

        Assert.Equal(1, result.Rejected);
        Assert.Contains("set DELTA or CUMULATIVE", result.ErrorMessage, StringComparison.Ordinal);
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
