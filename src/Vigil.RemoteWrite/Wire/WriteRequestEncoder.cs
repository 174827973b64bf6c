using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using static Vigil.RemoteWrite.Wire.WriteRequestFields;

namespace Vigil.RemoteWrite.Wire;

/// <summary>
/// Builds a remote write 1.0 body: a <c>WriteRequest</c> of one-sample <c>TimeSeries</c>, snappy-compressed (block
/// format). A series' labels are encoded once (<see cref="EncodeLabels"/>) and copied into every request that carries
/// it; the buffer is reused between requests, so a send costs the compressed copy and nothing per sample.
/// </summary>
internal sealed class WriteRequestEncoder
{
    private readonly ArrayBufferWriter<byte> _buffer = new(64 * 1024);

    public int Samples { get; private set; }

    /// <summary>
    /// The <c>labels</c> fields of a TimeSeries for a label set sorted by name (byte order, <c>__name__</c> included),
    /// ready to be copied: tag, length, Label{name, value} per label.
    /// </summary>
    public static byte[] EncodeLabels(IReadOnlyList<KeyValuePair<string, string>> sorted)
    {
        var writer = new ArrayBufferWriter<byte>(64);
        foreach (var (name, value) in sorted)
        {
            var nameBytes = Encoding.UTF8.GetByteCount(name);
            var valueBytes = Encoding.UTF8.GetByteCount(value);
            var label = 1 + VarintSize((ulong)nameBytes) + nameBytes + 1 + VarintSize((ulong)valueBytes) + valueBytes;
            WriteByte(writer, Tag(TimeSeriesLabels, WireLengthDelimited));
            WriteVarint(writer, (ulong)label);
            WriteByte(writer, Tag(LabelName, WireLengthDelimited));
            WriteVarint(writer, (ulong)nameBytes);
            writer.Advance(Encoding.UTF8.GetBytes(name, writer.GetSpan(nameBytes)));
            WriteByte(writer, Tag(LabelValue, WireLengthDelimited));
            WriteVarint(writer, (ulong)valueBytes);
            writer.Advance(Encoding.UTF8.GetBytes(value, writer.GetSpan(valueBytes)));
        }

        return writer.WrittenSpan.ToArray();
    }

    /// <summary>Appends one TimeSeries: the pre-encoded labels and one sample.</summary>
    public void Add(ReadOnlySpan<byte> encodedLabels, long timestampMs, double value)
    {
        var sample = 1 + 8 + 1 + VarintSize((ulong)timestampMs);
        var series = encodedLabels.Length + 1 + VarintSize((ulong)sample) + sample;
        WriteByte(_buffer, Tag(WriteRequestTimeseries, WireLengthDelimited));
        WriteVarint(_buffer, (ulong)series);
        encodedLabels.CopyTo(_buffer.GetSpan(encodedLabels.Length));
        _buffer.Advance(encodedLabels.Length);
        WriteByte(_buffer, Tag(TimeSeriesSamples, WireLengthDelimited));
        WriteVarint(_buffer, (ulong)sample);
        WriteByte(_buffer, Tag(SampleValue, WireFixed64));
        BinaryPrimitives.WriteDoubleLittleEndian(_buffer.GetSpan(8), value);
        _buffer.Advance(8);
        WriteByte(_buffer, Tag(SampleTimestamp, WireVarint));
        WriteVarint(_buffer, (ulong)timestampMs);
        Samples++;
    }

    /// <summary>The uncompressed WriteRequest so far (for tests and sizes).</summary>
    public ReadOnlySpan<byte> Uncompressed => _buffer.WrittenSpan;

    /// <summary>The snappy-compressed body of the WriteRequest so far.</summary>
    public byte[] ToSnappy() => Snappier.Snappy.CompressToArray(_buffer.WrittenSpan);

    public void Clear()
    {
        _buffer.ResetWrittenCount();
        Samples = 0;
    }

    private static void WriteByte(ArrayBufferWriter<byte> writer, byte value)
    {
        writer.GetSpan(1)[0] = value;
        writer.Advance(1);
    }

    private static void WriteVarint(ArrayBufferWriter<byte> writer, ulong value)
    {
        var span = writer.GetSpan(10);
        var n = 0;
        while (value >= 0x80)
        {
            span[n++] = (byte)(value | 0x80);
            value >>= 7;
        }

        span[n++] = (byte)value;
        writer.Advance(n);
    }

    private static int VarintSize(ulong value)
    {
        var n = 1;
        while (value >= 0x80)
        {
            value >>= 7;
            n++;
        }

        return n;
    }
}
