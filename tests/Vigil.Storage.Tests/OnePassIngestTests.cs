using Google.Protobuf;
using Vigil.Otlp.Proto.Metrics;
using Vigil.Otlp.Wire;
using Vigil.Storage.Query;
using static Vigil.Storage.Tests.StoreHarness;

namespace Vigil.Storage.Tests;

/// <summary>
/// Check, then apply from the check's index (decision 031): a prepared request stores what a plain
/// ingest stores, and a malformed body found anywhere leaves the store untouched on every path.
/// </summary>
public sealed class OnePassIngestTests
{
    private static byte[] TwoGauges() =>
        Request([], Gauge("temperature", Point(0, At(1), 21.5, Attr("room", "a")), Point(0, At(1), 19, Attr("room", "b")))).ToByteArray();

    /// <summary>A good request followed by a resource whose only point has a 3-byte fixed64 time.</summary>
    private static byte[] GoodThenMalformed()
    {
        byte[] point = [(3 << 3) | 1, 1, 2, 3]; // time_unix_nano, fixed64, 3 of its 8 bytes
        byte[] Wrap(int field, byte[] inner)
        {
            using var buffer = new MemoryStream();
            var o = new CodedOutputStream(buffer);
            o.WriteTag(field, WireFormat.WireType.LengthDelimited);
            o.WriteBytes(ByteString.CopyFrom(inner));
            o.Flush();
            return buffer.ToArray();
        }

        byte[] metric = [0x0A, 3, (byte)'b', (byte)'a', (byte)'d', .. Wrap(5, Wrap(1, point))]; // Metric{name, gauge.data_points[0]}
        var resource = Wrap(2, Wrap(2, metric));         // ResourceMetrics.scope_metrics[0].metrics[0]
        return [.. TwoGauges(), .. Wrap(1, resource)];
    }

    [Fact]
    public void Prepared_ThenApplied_StoresTheRequest()
    {
        var h = new StoreHarness();
        IngestResult result;
        using (var prepared = h.Ingest.Prepare(TwoGauges()))
        {
            Assert.Equal(0, h.Store.SeriesCount); // checked, not stored
            result = prepared.Apply();
        }

        Assert.Equal(new IngestResult(2, 0, null), result);
        Assert.Equal(2, h.Store.SeriesCount);
        Assert.Equal(21.5, h.Value("temperature", AggregateFunction.Last, TimeSpan.FromMinutes(1), T0.AddSeconds(1), matchers: [new LabelMatcher("room", MatchOp.Equal, "a")]));
    }

    [Fact]
    public void Prepare_OfAMalformedRequest_Throws_AndStoresNothing()
    {
        var h = new StoreHarness();

        Assert.Throws<OtlpFormatException>(() => h.Ingest.Prepare(GoodThenMalformed()));

        Assert.Equal(0, h.Store.SeriesCount);
    }

    [Fact]
    public void Apply_WithoutACheck_AsOnReplay_OfAMalformedRequest_StoresNothing()
    {
        // A damaged WAL record: its good first resource must not be half applied.
        var h = new StoreHarness();

        Assert.Throws<OtlpFormatException>(() => h.Ingest.Apply(GoodThenMalformed()));

        Assert.Equal(0, h.Store.SeriesCount);
        Assert.Null(h.Store.KindOf("temperature"));
    }

    [Fact]
    public void PreparedRequest_AppliesOnce_AndNotAfterDispose()
    {
        var h = new StoreHarness();
        var prepared = h.Ingest.Prepare(TwoGauges());
        prepared.Dispose();

        Assert.Throws<ObjectDisposedException>(() => prepared.Apply());
        Assert.Equal(0, h.Store.SeriesCount);
    }

    [Fact]
    public void PreparedRequests_AreIndependent_WhileBothAreHeld()
    {
        // Two requests checked before either is applied (two exports waiting on the WAL): each keeps its own index.
        var h = new StoreHarness();
        var other = Request([], Gauge("humidity", Point(0, At(1), 40))).ToByteArray();
        using var first = h.Ingest.Prepare(TwoGauges());
        using var second = h.Ingest.Prepare(other);

        Assert.Equal(1, second.Apply().Accepted);
        Assert.Equal(2, first.Apply().Accepted);
        Assert.Equal(40, h.Value("humidity", AggregateFunction.Last, TimeSpan.FromMinutes(1), T0.AddSeconds(1)));
    }
}
