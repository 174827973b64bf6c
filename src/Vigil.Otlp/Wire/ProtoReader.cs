using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Vigil.Otlp.Wire;

public enum WireType
{
    Varint = 0,
    Fixed64 = 1,
    LengthDelimited = 2,
    StartGroup = 3,
    EndGroup = 4,
    Fixed32 = 5,
}

/// <summary>A malformed protobuf body. Carries the OTLP field path so the sender can act on it.</summary>
public class OtlpFormatException(string message) : Exception(message);

/// <summary>A well-formed request none of whose data points can be stored: refused whole, before the WAL.</summary>
public sealed class OtlpRequestRefusedException(string message) : OtlpFormatException(message);

/// <summary>
/// A forward-only protobuf reader over a span. No allocation: nested messages are returned as
/// sub-spans and read by another reader.
/// </summary>
public ref struct ProtoReader
{
    private readonly ReadOnlySpan<byte> _buffer;
    private int _position;

    public ProtoReader(ReadOnlySpan<byte> buffer)
    {
        _buffer = buffer;
        _position = 0;
    }

    public readonly bool End => _position >= _buffer.Length;

    public readonly int Position => _position;

    /// <summary>Reads the next tag; returns false at the end of the buffer.</summary>
    public bool TryReadTag(out int fieldNumber, out WireType wireType)
    {
        if (_position >= _buffer.Length)
        {
            fieldNumber = 0;
            wireType = 0;
            return false;
        }

        var tag = ReadVarint();
        fieldNumber = (int)(tag >> 3);
        wireType = (WireType)(tag & 7);
        if (fieldNumber <= 0 || tag > 0xFFFFFFFF)
        {
            throw new OtlpFormatException($"invalid field tag {tag} at byte {_position}");
        }

        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong ReadVarint()
    {
        ulong result = 0;
        var shift = 0;
        while (true)
        {
            if (_position >= _buffer.Length)
            {
                throw new OtlpFormatException($"truncated varint at byte {_position}");
            }

            var b = _buffer[_position++];
            result |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return result;
            }

            shift += 7;
            if (shift >= 64)
            {
                throw new OtlpFormatException($"varint longer than 10 bytes at byte {_position}");
            }
        }
    }

    public ulong ReadFixed64()
    {
        if (_buffer.Length - _position < 8)
        {
            throw new OtlpFormatException($"truncated fixed64 at byte {_position}");
        }

        var value = BinaryPrimitives.ReadUInt64LittleEndian(_buffer.Slice(_position, 8));
        _position += 8;
        return value;
    }

    public uint ReadFixed32()
    {
        if (_buffer.Length - _position < 4)
        {
            throw new OtlpFormatException($"truncated fixed32 at byte {_position}");
        }

        var value = BinaryPrimitives.ReadUInt32LittleEndian(_buffer.Slice(_position, 4));
        _position += 4;
        return value;
    }

    public double ReadDouble() => BitConverter.UInt64BitsToDouble(ReadFixed64());

    public int ReadSInt32()
    {
        var n = (uint)ReadVarint();
        return (int)(n >> 1) ^ -(int)(n & 1);
    }

    public ReadOnlySpan<byte> ReadLengthDelimited()
    {
        var length = ReadVarint();
        if (length > (ulong)(_buffer.Length - _position))
        {
            throw new OtlpFormatException($"length {length} at byte {_position} runs past the end of the message ({_buffer.Length - _position} bytes left); the body is truncated or not OTLP protobuf");
        }

        var span = _buffer.Slice(_position, (int)length);
        _position += (int)length;
        return span;
    }

    public void Skip(WireType wireType)
    {
        switch (wireType)
        {
            case WireType.Varint:
                ReadVarint();
                break;
            case WireType.Fixed64:
                ReadFixed64();
                break;
            case WireType.LengthDelimited:
                ReadLengthDelimited();
                break;
            case WireType.Fixed32:
                ReadFixed32();
                break;
            default:
                throw new OtlpFormatException($"unsupported wire type {(int)wireType} at byte {_position}");
        }
    }

    /// <summary>Checks the wire type a field must have; a mismatch means the body is not what it claims to be.</summary>
    public readonly void Expect(WireType actual, WireType expected, string field)
    {
        if (actual != expected)
        {
            throw new OtlpFormatException($"field {field} has wire type {(int)actual}, expected {(int)expected}, at byte {_position}");
        }
    }
}
