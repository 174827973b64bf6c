using Vigil.Storage.Checkpoint;

namespace Vigil.Storage.Compression;

/// <summary>
/// A series whose newest buckets sit raw in a few slots (where points land without decoding) and whose
/// older, closed buckets are packed in <see cref="PackedChunks"/>. When the raw slots fill up the oldest
/// few are sealed into the last chunk; a late point into a closed bucket decodes that one chunk, adds to
/// it and packs it again. Reads walk chunks then slots, oldest first, so every fold adds the same values
/// in the same order as the unpacked layout did: answers are bit-identical.
/// </summary>
internal abstract class PackedSeries<T, TCodec> : Series
    where T : unmanaged
    where TCodec : struct, IBucketCodec<T>
{
    /// <summary>Raw slots a series keeps at most (the newest 2-4 buckets: a point a few buckets late still lands raw).</summary>
    public const int RawSlots = 4;

    /// <summary>Slots sealed at once when the raw ones are full.</summary>
    public const int SealBatch = 2;

    // The largest run a pack step holds: a full chunk plus one late insert, or a growing chunk plus a seal batch.
    private const int Scratch = PackedChunks.MaxChunkBuckets + SealBatch + 1;

    private T[] _raw = new T[4];
    private byte[]? _packed;
    private int _packedLength;
    private int _packedLast = int.MinValue;

    // Packed buckets before this are expired; whole chunks go when all of theirs are.
    private int _floor = int.MinValue;

    protected PackedSeries(MetricState metric, byte[] key, LabelSet labels, int stripe)
        : base(metric, key, labels, stripe)
    {
    }

    protected override bool HasPacked => _packedLength > 0;

    /// <summary>Bytes of packed chunks held (the array may be a little longer).</summary>
    internal int PackedBytes => _packedLength;

    protected long PackedApproximateBytes => BaseBytes + (Capacity * (long)System.Runtime.CompilerServices.Unsafe.SizeOf<T>()) + 24 + (_packed is null ? 0 : _packed.Length + 24) + 16;

    /// <summary>Adds a point to its bucket, raw or packed.</summary>
    protected void AddPoint(int bucket, double value, long time)
    {
        Changes++;
        if (Count >= RawSlots)
        {
            Seal();
        }

        if (_packedLength > 0 && bucket <= _packedLast)
        {
            AddLate(bucket, value, time);
            return;
        }

        // Slot() may grow _raw: take the slot before the array.
        var slot = Slot(bucket);
        TCodec.Apply(ref _raw[slot], value, time);
    }

    /// <summary>Buckets in [from, to], oldest first.</summary>
    protected Cursor Read(int from, int to)
    {
        var (first, end) = Range(from, to);
        var packed = _packedLength > 0 && to >= _floor ? _packed.AsSpan(0, _packedLength) : default;
        return new Cursor(packed, Math.Max(from, _floor), to, BucketsOf(first, end), _raw.AsSpan(first, end - first));
    }

    // Range() looks up to + 1: the last bucket number a range may name is one below int.MaxValue.
    private Cursor ReadAll() => Read(int.MinValue, int.MaxValue - 1);

    protected override void TrimPacked(int oldest)
    {
        if (_packedLength == 0)
        {
            return;
        }

        _floor = Math.Max(_floor, oldest);
        PackedChunks.DropBefore(_packed!, ref _packedLength, _floor);
        if (_packedLength == 0)
        {
            _packed = null;
            _packedLast = int.MinValue;
        }
    }

    protected override void WriteBucketNumbers(CheckpointWriter writer)
    {
        var all = ReadAll();
        var count = 0;
        while (all.MoveNext())
        {
            count++;
        }

        writer.WriteInt32(count);
        all = ReadAll();
        while (all.MoveNext())
        {
            writer.WriteInt32(all.Bucket);
        }
    }

    /// <summary>Every live bucket's values, oldest first, in the unpacked checkpoint layout.</summary>
    protected void WriteBuckets(CheckpointWriter writer)
    {
        var all = ReadAll();
        while (all.MoveNext())
        {
            TCodec.WriteCheckpoint(writer, all.Current);
        }
    }

    /// <summary>Reads what <see cref="WriteBuckets"/> wrote into slots [0, count); <see cref="Restored"/> packs them.</summary>
    protected void ReadBuckets(CheckpointReader reader, int count)
    {
        for (var i = 0; i < count; i++)
        {
            _raw[i] = TCodec.ReadCheckpoint(reader);
        }
    }

    protected override void Restored()
    {
        while (Count > RawSlots - SealBatch)
        {
            Seal();
        }

        ShrinkSlots(RawSlots);
    }

    protected override void Grow(int capacity) => Array.Resize(ref _raw, capacity);

    protected override void Shift(int position, int count) => ShiftArray(_raw, position, count);

    protected override void Remove(int drop, int count) => RemoveArray(_raw, drop, count);

    protected override void Clear(int slot) => _raw[slot] = default;

    /// <summary>Moves the oldest raw slots into the last chunk (or a new one when it is full).</summary>
    private void Seal()
    {
        var sealing = Math.Min(SealBatch, Count);
        var numbers = Buckets[..sealing];
        var values = _raw.AsSpan(Head, sealing);
        if (_packedLength > 0 && PackedChunks.TryLast(_packed.AsSpan(0, _packedLength), out var last) && last.Count < PackedChunks.ChunkBuckets)
        {
            Append(last, numbers, values);
        }
        else
        {
            Pack(numbers, values, _packedLength, 0);
        }

        _packedLast = numbers[^1];
        DropOldest(sealing);
    }

    /// <summary>
    /// Adds buckets after the last chunk's: its body is read only for the codec's state at its end, the new
    /// buckets are encoded from there and appended, and the header is rewritten. Old bytes are not re-encoded.
    /// </summary>
    private void Append(ChunkHeader chunk, ReadOnlySpan<int> buckets, ReadOnlySpan<T> values)
    {
        var reader = new ByteReader(_packed.AsSpan(0, _packedLength), chunk.BodyStart);
        var codec = default(TCodec);
        codec.Reset();
        for (var i = 0; i < chunk.Count; i++)
        {
            codec.Read(ref reader, out _, out _);
        }

        Span<byte> tail = stackalloc byte[SealBatch * TCodec.MaxBytes];
        var writer = new ByteWriter(tail);
        var previous = chunk.Last;
        for (var i = 0; i < buckets.Length; i++)
        {
            codec.Write(ref writer, buckets[i] - previous, values[i]);
            previous = buckets[i];
        }

        Span<byte> header = stackalloc byte[PackedChunks.MaxHeader];
        var headerWriter = new ByteWriter(header);
        PackedChunks.WriteHeader(ref headerWriter, chunk.BodyLength + writer.Position, chunk.Count + buckets.Length, chunk.First, previous);

        // The last chunk ends the array: the tail goes at the end, then the header is swapped in front of the body.
        PackedChunks.Replace(ref _packed!, ref _packedLength, chunk.End, 0, writer.Written);
        PackedChunks.Replace(ref _packed, ref _packedLength, chunk.Start, chunk.BodyStart - chunk.Start, headerWriter.Written);
    }

    /// <summary>Decode, add, re-pack one chunk: the rare point for a bucket that was already sealed.</summary>
    private void AddLate(int bucket, double value, long time)
    {
        if (!PackedChunks.TryFind(_packed.AsSpan(0, _packedLength), bucket, out var chunk))
        {
            throw new InvalidOperationException($"bucket {bucket} at or before the last packed one ({_packedLast}) but in no chunk");
        }

        Span<int> buckets = stackalloc int[Scratch];
        Span<T> values = stackalloc T[Scratch];
        var n = Decode(chunk, buckets, values);
        var index = buckets[..n].BinarySearch(bucket);
        if (index < 0)
        {
            index = ~index;
            buckets[index..n].CopyTo(buckets[(index + 1)..]);
            values[index..n].CopyTo(values[(index + 1)..]);
            buckets[index] = bucket;
            values[index] = default;
            n++;
        }

        TCodec.Apply(ref values[index], value, time);
        Pack(buckets[..n], values[..n], chunk.Start, chunk.Length);
    }

    /// <summary>The live buckets of one chunk into the scratch spans.</summary>
    private int Decode(ChunkHeader chunk, Span<int> buckets, Span<T> values)
    {
        var reader = new ByteReader(_packed.AsSpan(0, _packedLength), chunk.BodyStart);
        var codec = default(TCodec);
        codec.Reset();
        var bucket = chunk.First - 1;
        var n = 0;
        for (var i = 0; i < chunk.Count; i++)
        {
            codec.Read(ref reader, out var gap, out var value);
            bucket += gap;
            if (bucket >= _floor)
            {
                buckets[n] = bucket;
                values[n] = value;
                n++;
            }
        }

        return n;
    }

    /// <summary>Encodes a run as one chunk (two when a late insert made it too long) in place of [at, at + oldLength).</summary>
    private void Pack(ReadOnlySpan<int> buckets, ReadOnlySpan<T> values, int at, int oldLength)
    {
        Span<byte> output = stackalloc byte[(2 * PackedChunks.MaxHeader) + (Scratch * TCodec.MaxBytes)];
        Span<byte> body = stackalloc byte[Scratch * TCodec.MaxBytes];
        var writer = new ByteWriter(output);
        if (buckets.Length > PackedChunks.MaxChunkBuckets)
        {
            var half = buckets.Length / 2;
            WriteChunk(ref writer, body, buckets[..half], values[..half]);
            WriteChunk(ref writer, body, buckets[half..], values[half..]);
        }
        else
        {
            WriteChunk(ref writer, body, buckets, values);
        }

        _packed ??= [];
        PackedChunks.Replace(ref _packed, ref _packedLength, at, oldLength, writer.Written);
    }

    private static void WriteChunk(ref ByteWriter output, Span<byte> body, ReadOnlySpan<int> buckets, ReadOnlySpan<T> values)
    {
        var writer = new ByteWriter(body);
        var codec = default(TCodec);
        codec.Reset();
        var previous = buckets[0] - 1;
        for (var i = 0; i < buckets.Length; i++)
        {
            codec.Write(ref writer, buckets[i] - previous, values[i]);
            previous = buckets[i];
        }

        PackedChunks.WriteHeader(ref output, writer.Position, buckets.Length, buckets[0], buckets[^1]);
        for (var i = 0; i < writer.Position; i++)
        {
            output.WriteByte(body[i]);
        }
    }

    /// <summary>Walks the packed then the raw buckets of a range, oldest first.</summary>
    internal ref struct Cursor
    {
        private readonly ReadOnlySpan<byte> _packed;
        private readonly int _from;
        private readonly int _to;
        private readonly ReadOnlySpan<int> _rawBuckets;
        private readonly ReadOnlySpan<T> _rawValues;
        private ByteReader _reader;
        private TCodec _codec;
        private int _at;
        private int _remaining;
        private int _chunkEnd;
        private int _raw;

        public Cursor(ReadOnlySpan<byte> packed, int from, int to, ReadOnlySpan<int> rawBuckets, ReadOnlySpan<T> rawValues)
        {
            _packed = packed;
            _from = from;
            _to = to;
            _rawBuckets = rawBuckets;
            _rawValues = rawValues;
            _reader = new ByteReader(packed, 0);
        }

        public int Bucket { get; private set; }

        public T Current { get; private set; }

        public bool MoveNext()
        {
            while (true)
            {
                if (_remaining > 0)
                {
                    _codec.Read(ref _reader, out var gap, out var value);
                    Bucket += gap;
                    if (--_remaining == 0)
                    {
                        _at = _chunkEnd;
                    }

                    if (Bucket < _from)
                    {
                        continue;
                    }

                    if (Bucket > _to)
                    {
                        // Raw buckets all come after the packed ones: nothing else is in range.
                        _remaining = 0;
                        _at = _packed.Length;
                        _raw = _rawBuckets.Length;
                        return false;
                    }

                    Current = value;
                    return true;
                }

                if (_at < _packed.Length)
                {
                    var chunk = PackedChunks.ReadHeader(_packed, _at);
                    if (chunk.Last < _from)
                    {
                        _at = chunk.End;
                        continue;
                    }

                    _reader = new ByteReader(_packed, chunk.BodyStart);
                    _codec = default;
                    _codec.Reset();
                    _remaining = chunk.Count;
                    _chunkEnd = chunk.End;
                    Bucket = chunk.First - 1;
                    continue;
                }

                if (_raw < _rawBuckets.Length)
                {
                    Bucket = _rawBuckets[_raw];
                    Current = _rawValues[_raw];
                    _raw++;
                    return true;
                }

                return false;
            }
        }
    }
}
