using System.Runtime.InteropServices;
using Vigil.Storage.Checkpoint;

namespace Vigil.Storage.Compression;

/// <summary>A counter's bucket: the sum of its deltas and how many points made it.</summary>
// 12 bytes, not 16: x64 reads the unaligned double at no cost, and a series holds a few of these raw.
[StructLayout(LayoutKind.Sequential, Pack = 4)]
internal struct CounterBucket
{
    public double Sum;
    public int Points;
}

/// <summary>
/// One control byte per bucket — bit 0: the next bucket number; bit 1: the same point count as the
/// previous bucket; bits 2-6: the XOR code of the sum against the previous sum, or a <see cref="DecimalCoder"/> code — then
/// only what the bits did not say. A steady counter (same delta every bucket) costs one byte per bucket.
/// </summary>
internal struct CounterCodec : IBucketCodec<CounterBucket>
{
    private double _sum;
    private int _points;
    private DecimalCoder _decimal;

    public static int MaxBytes => 1 + 5 + 5 + 8;

    public static void Apply(ref CounterBucket bucket, double value, long time)
    {
        bucket.Sum += value;
        bucket.Points++;
    }

    public static void WriteCheckpoint(CheckpointWriter writer, in CounterBucket bucket)
    {
        writer.WriteDouble(bucket.Sum);
        writer.WriteInt32(bucket.Points);
    }

    public static CounterBucket ReadCheckpoint(CheckpointReader reader) => new() { Sum = reader.ReadDouble(), Points = reader.ReadInt32() };

    public void Reset()
    {
        _sum = 0;
        _points = 1;
        _decimal.Reset();
    }

    public void Write(ref ByteWriter writer, int gap, in CounterBucket value)
    {
        var code = writer.XorCode(value.Sum, _sum, out var bits, out var bytes);
        code = _decimal.Choose(value.Sum, code, bytes, out var mantissa, out var scale);
        var control = (gap == 1 ? 1 : 0) | (value.Points == _points ? 2 : 0) | (code << 2);
        writer.WriteByte((byte)control);
        if (gap != 1)
        {
            writer.WriteVarint((uint)gap);
        }

        if (value.Points != _points)
        {
            writer.WriteVarint((uint)value.Points);
        }

        _decimal.Write(ref writer, code, mantissa, scale);
        if (code < DecimalCoder.SameScale)
        {
            writer.WriteBytes(bits, bytes);
        }

        _sum = value.Sum;
        _points = value.Points;
    }

    public void Read(ref ByteReader reader, out int gap, out CounterBucket value)
    {
        int control = reader.ReadByte();
        gap = (control & 1) != 0 ? 1 : (int)reader.ReadVarint();
        var points = (control & 2) != 0 ? _points : (int)reader.ReadVarint();
        _sum = _decimal.Read(ref reader, control >> 2, _sum);
        _points = points;
        value = new CounterBucket { Sum = _sum, Points = points };
    }
}

/// <summary>A gauge's bucket: the latest value and its time, min, max, sum and count.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
internal struct GaugeBucket
{
    public double Last;
    public long LastTime;
    public double Min;
    public double Max;
    public double Sum;
    public int Count;
}

/// <summary>
/// Control byte — bit 0: the next bucket number; bit 1: the same count as the previous bucket; bit 2:
/// min, max and sum are bit-equal to the latest value (one point in the bucket); bits 3-7: the XOR code
/// of the latest value against the previous bucket's, or a <see cref="DecimalCoder"/> code. The time goes as a delta-of-delta varint; min,
/// max and sum, when they differ, each as a code byte and an XOR against the latest value.
/// </summary>
internal struct GaugeCodec : IBucketCodec<GaugeBucket>
{
    private double _last;
    private long _time;
    private long _timeDelta;
    private int _count;
    private DecimalCoder _decimal;

    public static int MaxBytes => 1 + 5 + 5 + 8 + 10 + (3 * 9);

    public static void Apply(ref GaugeBucket bucket, double value, long time)
    {
        if (bucket.Count == 0 || time >= bucket.LastTime)
        {
            bucket.Last = value;
            bucket.LastTime = time;
        }

        bucket.Min = bucket.Count == 0 ? value : Math.Min(bucket.Min, value);
        bucket.Max = bucket.Count == 0 ? value : Math.Max(bucket.Max, value);
        bucket.Sum += value;
        bucket.Count++;
    }

    public static void WriteCheckpoint(CheckpointWriter writer, in GaugeBucket bucket)
    {
        writer.WriteDouble(bucket.Last);
        writer.WriteInt64(bucket.LastTime);
        writer.WriteDouble(bucket.Min);
        writer.WriteDouble(bucket.Max);
        writer.WriteDouble(bucket.Sum);
        writer.WriteInt32(bucket.Count);
    }

    public static GaugeBucket ReadCheckpoint(CheckpointReader reader) => new()
    {
        Last = reader.ReadDouble(),
        LastTime = reader.ReadInt64(),
        Min = reader.ReadDouble(),
        Max = reader.ReadDouble(),
        Sum = reader.ReadDouble(),
        Count = reader.ReadInt32(),
    };

    public void Reset()
    {
        _last = 0;
        _time = 0;
        _timeDelta = 0;
        _count = 1;
        _decimal.Reset();
    }

    public void Write(ref ByteWriter writer, int gap, in GaugeBucket value)
    {
        var single = Same(value.Min, value.Last) && Same(value.Max, value.Last) && Same(value.Sum, value.Last);
        var code = writer.XorCode(value.Last, _last, out var bits, out var bytes);
        code = _decimal.Choose(value.Last, code, bytes, out var mantissa, out var scale);
        var control = (gap == 1 ? 1 : 0) | (value.Count == _count ? 2 : 0) | (single ? 4 : 0) | (code << 3);
        writer.WriteByte((byte)control);
        if (gap != 1)
        {
            writer.WriteVarint((uint)gap);
        }

        if (value.Count != _count)
        {
            writer.WriteVarint((uint)value.Count);
        }

        _decimal.Write(ref writer, code, mantissa, scale);
        if (code < DecimalCoder.SameScale)
        {
            writer.WriteBytes(bits, bytes);
        }

        var delta = value.LastTime - _time;
        writer.WriteVarint64(PackedChunks.ZigZag64(delta - _timeDelta));
        if (!single)
        {
            WriteAgainst(ref writer, value.Min, value.Last);
            WriteAgainst(ref writer, value.Max, value.Last);
            WriteAgainst(ref writer, value.Sum, value.Last);
        }

        _last = value.Last;
        _time = value.LastTime;
        _timeDelta = delta;
        _count = value.Count;
    }

    public void Read(ref ByteReader reader, out int gap, out GaugeBucket value)
    {
        int control = reader.ReadByte();
        gap = (control & 1) != 0 ? 1 : (int)reader.ReadVarint();
        var count = (control & 2) != 0 ? _count : (int)reader.ReadVarint();
        var last = _decimal.Read(ref reader, control >> 3, _last);
        _timeDelta += PackedChunks.UnZigZag64(reader.ReadVarint());
        _time += _timeDelta;
        value = new GaugeBucket { Last = last, LastTime = _time, Count = count };
        if ((control & 4) != 0)
        {
            value.Min = last;
            value.Max = last;
            value.Sum = last;
        }
        else
        {
            value.Min = reader.ReadXorDouble(reader.ReadByte(), last);
            value.Max = reader.ReadXorDouble(reader.ReadByte(), last);
            value.Sum = reader.ReadXorDouble(reader.ReadByte(), last);
        }

        _last = last;
        _count = count;
    }

    private static bool Same(double a, double b) => BitConverter.DoubleToUInt64Bits(a) == BitConverter.DoubleToUInt64Bits(b);

    private static void WriteAgainst(ref ByteWriter writer, double value, double reference)
    {
        var code = writer.XorCode(value, reference, out var bits, out var bytes);
        writer.WriteByte((byte)code);
        writer.WriteBytes(bits, bytes);
    }
}
