using System.Buffers.Binary;
using Vigil.Otlp.Proto.Metrics;
using Vigil.Storage.Checkpoint;
using Vigil.Storage.Query;
using static Vigil.Storage.Tests.StoreHarness;

namespace Vigil.Storage.Tests;

/// <summary>Loading a checkpoint streams it (decision 035): two passes of small reads, never the whole file at once.</summary>
public sealed class CheckpointStreamingTests
{
    private const int Chunk = 64 * 1024;

    /// <summary>A store of <paramref name="count"/> delta counter series of one metric, each with a value of i + 1.</summary>
    private static StoreHarness Counters(int count)
    {
        var h = new StoreHarness(new WindowStoreOptions { MaxSeriesPerMetric = count, MaxSeriesPerTenant = count });
        var points = new NumberDataPoint[count];
        for (var i = 0; i < count; i++)
        {
            points[i] = Point(At(1), At(5), i + 1, Attr("instance", "host-" + i.ToString("D6", System.Globalization.CultureInfo.InvariantCulture) + new string('x', 40)));
        }

        h.Send(Counter("requests", AggregationTemporality.Delta, points));
        h.Clock.Advance(TimeSpan.FromSeconds(10));
        return h;
    }

    private static byte[] Checkpoint(WindowStore store)
    {
        using var stream = new MemoryStream();
        store.WriteCheckpoint(stream, walSegment: 7);
        return stream.ToArray();
    }

    private static double Total(WindowStore store, DateTimeOffset at) =>
        Assert.Single(store.Aggregate(new AggregateQuery("requests", AggregateFunction.Sum, TimeSpan.FromMinutes(1), [], [], at, 0.5))).Value;

    [Fact]
    public void Load_ReadsTheFileTwiceInChunks_NeverWhole()
    {
        const int count = 3000;
        var h = Counters(count);
        var bytes = Checkpoint(h.Store);
        Assert.True(bytes.Length > 4 * Chunk, $"the checkpoint ({bytes.Length} bytes) must span several chunks");

        var counting = new CountingStream(bytes);
        var store = new WindowStore(h.Store.Options, h.Clock);
        var info = store.LoadCheckpoint(counting);

        // The header once, then the payload twice: once for the checksum, once to parse.
        var payload = bytes.Length - CheckpointFormat.HeaderBytes;
        Assert.Equal(CheckpointFormat.HeaderBytes + (2L * payload), counting.BytesRead);
        Assert.InRange(counting.LargestRead, 1, Chunk);
        Assert.Equal(count, info.Series);
        Assert.Equal(count, store.SeriesCount);

        // 1 + 2 + … + count, every value stored once.
        Assert.Equal(count * (count + 1) / 2.0, Total(store, h.Clock.GetUtcNow()));
        Assert.Equal(Total(h.Store, h.Clock.GetUtcNow()), Total(store, h.Clock.GetUtcNow()));
    }

    [Fact]
    public void RestoredLabels_AreTheWrittenOnes_AndSharedValuesAreOneString()
    {
        var h = new StoreHarness();
        for (var i = 0; i < 40; i++)
        {
            h.Send(Gauge("temperature", Point(0, At(5), i, Attr("room", "r" + i), Attr("site", "site-" + (i % 3)), Attr("floor", (i % 2).ToString(System.Globalization.CultureInfo.InvariantCulture)))));
        }

        var store = new WindowStore(h.Store.Options, h.Clock);
        store.LoadCheckpoint(new MemoryStream(Checkpoint(h.Store)));

        static string Text(IReadOnlyDictionary<string, string> labels) => string.Join(",", labels.Select(l => l.Key + "=" + l.Value));
        Assert.Equal(h.Store.ListSeries("temperature").Select(s => Text(s.Labels)), store.ListSeries("temperature").Select(s => Text(s.Labels)));

        // Series 0 and 3 are both at site-0: one string for the value.
        var restored = store.ListSeries("temperature");
        Assert.Equal("site-0", restored[3].Labels["site"]);
        Assert.Same(restored[0].Labels["site"], restored[3].Labels["site"]);
    }

    [Fact]
    public void StreamedReader_ReadsValuesThatStraddleChunks_AndOneLongerThanAChunk()
    {
        var writer = new CheckpointWriter();
        for (var i = 0; i < 20_000; i++)
        {
            writer.WriteInt32(i);
            writer.WriteDouble(i * 0.5);
        }

        var large = new byte[(3 * Chunk) + 17];
        for (var i = 0; i < large.Length; i++)
        {
            large[i] = (byte)(i * 7);
        }

        writer.WriteBytes(large);
        writer.WriteString("after the large value");
        writer.WriteInt64(-5);
        var bytes = writer.Written.ToArray();

        // A stream that hands out at most 1,000 bytes a read: every refill goes through several reads.
        var reader = new CheckpointReader(new CountingStream(bytes, maxRead: 1000), bytes.Length);
        for (var i = 0; i < 20_000; i++)
        {
            Assert.Equal(i, reader.ReadInt32());
            Assert.Equal(i * 0.5, reader.ReadDouble());
        }

        Assert.Equal(large, reader.ReadBytes());
        Assert.Equal("after the large value", reader.ReadString());
        Assert.Equal(-5, reader.ReadInt64());
        Assert.Equal(0, reader.Remaining);
        Assert.Throws<CheckpointCorruptException>(() => reader.ReadByte());
    }

    [Fact]
    public void StreamedReader_RefusesACountLargerThanTheBytesLeft_BeforeAllocating()
    {
        var writer = new CheckpointWriter();
        writer.WriteInt32(int.MaxValue);
        var bytes = writer.Written.ToArray();
        var reader = new CheckpointReader(new MemoryStream(bytes), bytes.Length);
        var error = Assert.Throws<CheckpointCorruptException>(() => reader.ReadBytes());
        Assert.Contains("does not fit", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DuplicateSeries_BehindAValidChecksum_LeavesTheStoreEmptyAndUsable()
    {
        var h = Counters(1);
        var bytes = Checkpoint(h.Store);

        // Payload: four u64/i64 fields, next metric id, metric count, the one metric, then the series count and record.
        var payload = bytes.AsSpan(CheckpointFormat.HeaderBytes);
        var at = 32 + 4 + 4 + 4;
        at += 4 + BinaryPrimitives.ReadInt32LittleEndian(payload[at..]); // name
        at += 1; // kind
        at += 4 + BinaryPrimitives.ReadInt32LittleEndian(payload[at..]); // unit
        at += 1 + 8; // monotonic, overflow points
        Assert.Equal(1, BinaryPrimitives.ReadInt32LittleEndian(payload[at..]));
        var record = payload[(at + 4)..].ToArray();

        var twice = new CheckpointWriter();
        twice.WriteBytesRaw(payload[..at]);
        twice.WriteInt32(2);
        twice.WriteBytesRaw(record);
        twice.WriteBytesRaw(record);
        var damaged = new byte[CheckpointFormat.HeaderBytes + twice.Length];
        CheckpointFormat.WriteHeader(damaged, Crc32C.Compute(twice.Written), twice.Length);
        twice.Written.CopyTo(damaged.AsSpan(CheckpointFormat.HeaderBytes));

        var store = new WindowStore(h.Store.Options, h.Clock);
        var error = Assert.Throws<CheckpointCorruptException>(() => store.LoadCheckpoint(new MemoryStream(damaged)));
        Assert.Contains("appears twice", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, store.SeriesCount);
        Assert.Equal(0, store.MetricCount);

        // Nothing of the failed load stayed behind: the good checkpoint loads into the same store.
        store.LoadCheckpoint(new MemoryStream(bytes));
        Assert.Equal(1, store.SeriesCount);
        Assert.Equal(1, Total(store, h.Clock.GetUtcNow()));
    }

    [Fact]
    public void StreamThatCannotSeek_StillLoads()
    {
        var h = Counters(10);
        var bytes = Checkpoint(h.Store);
        var store = new WindowStore(h.Store.Options, h.Clock);
        store.LoadCheckpoint(new CountingStream(bytes, seekable: false));
        Assert.Equal(10, store.SeriesCount);
        Assert.Equal(55, Total(store, h.Clock.GetUtcNow()));
    }

    /// <summary>A read-only stream over bytes that counts what is read and the largest single read.</summary>
    private sealed class CountingStream(byte[] bytes, int maxRead = int.MaxValue, bool seekable = true) : Stream
    {
        private readonly MemoryStream _inner = new(bytes, writable: false);

        public long BytesRead { get; private set; }

        public int LargestRead { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => seekable;

        public override bool CanWrite => false;

        public override long Length => seekable ? _inner.Length : throw new NotSupportedException();

        public override long Position
        {
            get => seekable ? _inner.Position : throw new NotSupportedException();
            set => _inner.Position = seekable ? value : throw new NotSupportedException();
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var read = _inner.Read(buffer[..Math.Min(buffer.Length, maxRead)]);
            BytesRead += read;
            LargestRead = Math.Max(LargestRead, read);
            return read;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => seekable ? _inner.Seek(offset, origin) : throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
