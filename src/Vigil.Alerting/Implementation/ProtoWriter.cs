using System.Buffers.Binary;
using System.Text;

namespace Vigil.Alerting.Implementation;

/// <summary>
/// A minimal protobuf writer: enough for an OTLP logs export. Nested messages are written into their own writer and
/// copied in as length-delimited bytes; alert events are few and small, so simplicity beats a single-pass encoder.
/// </summary>
internal sealed class ProtoWriter
{
    private const int VarintType = 0;
    private const int Fixed64Type = 1;
    private const int LengthDelimitedType = 2;

    private readonly MemoryStream _buffer = new();

    public void String(int field, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            Bytes(field, Encoding.UTF8.GetBytes(value));
        }
    }

    public void Bytes(int field, ReadOnlySpan<byte> value)
    {
        Tag(field, LengthDelimitedType);
        Varint((ulong)value.Length);
        _buffer.Write(value);
    }

    public void Message(int field, ProtoWriter message) => Bytes(field, message.ToArray());

    public void Varint(int field, ulong value)
    {
        Tag(field, VarintType);
        Varint(value);
    }

    public void Fixed64(int field, ulong value)
    {
        Tag(field, Fixed64Type);
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        _buffer.Write(bytes);
    }

    public void Double(int field, double value) => Fixed64(field, BitConverter.DoubleToUInt64Bits(value));

    public byte[] ToArray() => _buffer.ToArray();

    private void Tag(int field, int wireType) => Varint((ulong)((field << 3) | wireType));

    private void Varint(ulong value)
    {
        while (value >= 0x80)
        {
            _buffer.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }

        _buffer.WriteByte((byte)value);
    }
}
