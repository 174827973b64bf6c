using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Vigil.Otlp.Wire;

public enum AttributeValueType : byte
{
    Empty = 0,
    String = 1,
    Bool = 2,
    Int = 3,
    Double = 4,
    Array = 5,
    KeyValueList = 6,
    Bytes = 7,
}

/// <summary>
/// The repeated <c>KeyValue</c> field <see cref="FieldNumber"/> of an encoded message, read lazily.
/// </summary>
public readonly ref struct AttributeList
{
    public AttributeList(ReadOnlySpan<byte> message, int fieldNumber)
    {
        Message = message;
        FieldNumber = fieldNumber;
    }

    public ReadOnlySpan<byte> Message { get; }

    public int FieldNumber { get; }

    public AttributeReader GetReader() => new(Message, FieldNumber);
}

/// <summary>Walks the attributes of an <see cref="AttributeList"/>; key and value stay raw bytes.</summary>
public ref struct AttributeReader
{
    private ProtoReader _reader;
    private readonly int _fieldNumber;

    public AttributeReader(ReadOnlySpan<byte> message, int fieldNumber)
    {
        _reader = new ProtoReader(message);
        _fieldNumber = fieldNumber;
        Key = default;
        Value = default;
        ValueType = AttributeValueType.Empty;
    }

    /// <summary>UTF-8 key of the current attribute.</summary>
    public ReadOnlySpan<byte> Key { get; private set; }

    /// <summary>
    /// The current value's payload: UTF-8 text for strings, the varint for ints and bools, 8 little-endian
    /// bytes for doubles, the raw encoded message for arrays and key-value lists, the bytes for bytes.
    /// </summary>
    public ReadOnlySpan<byte> Value { get; private set; }

    public AttributeValueType ValueType { get; private set; }

    /// <summary>Whether the current key and value (nested values included) are clean text; see <see cref="HasCleanText"/>.</summary>
    public readonly bool IsClean => OtlpPointRules.IsCleanText(Key) && IsCleanValue(ValueType, Value, 0);

    public bool MoveNext()
    {
        while (_reader.TryReadTag(out var field, out var wire))
        {
            if (field != _fieldNumber || wire != WireType.LengthDelimited)
            {
                _reader.Skip(wire);
                continue;
            }

            ReadKeyValue(_reader.ReadLengthDelimited());
            return true;
        }

        return false;
    }

    private void ReadKeyValue(ReadOnlySpan<byte> kv)
    {
        var reader = new ProtoReader(kv);
        Key = default;
        Value = default;
        ValueType = AttributeValueType.Empty;
        while (reader.TryReadTag(out var field, out var wire))
        {
            if (field == 1 && wire == WireType.LengthDelimited)
            {
                Key = reader.ReadLengthDelimited();
            }
            else if (field == 2 && wire == WireType.LengthDelimited)
            {
                ReadAnyValue(reader.ReadLengthDelimited());
            }
            else
            {
                reader.Skip(wire);
            }
        }
    }

    private void ReadAnyValue(ReadOnlySpan<byte> any)
    {
        var reader = new ProtoReader(any);
        while (reader.TryReadTag(out var field, out var wire))
        {
            var start = reader.Position;
            switch (field)
            {
                case 1 when wire == WireType.LengthDelimited:
                    Value = reader.ReadLengthDelimited();
                    ValueType = AttributeValueType.String;
                    break;
                case 2 when wire == WireType.Varint:
                case 3 when wire == WireType.Varint:
                    reader.ReadVarint();
                    Value = any[start..reader.Position];
                    ValueType = field == 2 ? AttributeValueType.Bool : AttributeValueType.Int;
                    break;
                case 4 when wire == WireType.Fixed64:
                    reader.ReadFixed64();
                    Value = any[start..reader.Position];
                    ValueType = AttributeValueType.Double;
                    break;
                case 5 when wire == WireType.LengthDelimited:
                case 6 when wire == WireType.LengthDelimited:
                case 7 when wire == WireType.LengthDelimited:
                    Value = reader.ReadLengthDelimited();
                    ValueType = (AttributeValueType)field;
                    break;
                default:
                    reader.Skip(wire);
                    break;
            }
        }
    }

    /// <summary>Deepest array / key-value list nesting accepted; deeper values would only serve to exhaust the stack.</summary>
    public const int MaxNesting = 32;

    /// <summary>
    /// Walks the elements of array and key-value list values, which <see cref="MoveNext"/> keeps as raw
    /// bytes, so a malformed or absurdly deep one is refused before anything from the request is stored
    /// (<see cref="FormatValue"/> trusts what passed here). Allocates nothing.
    /// </summary>
    /// <exception cref="OtlpFormatException">An element is malformed or nested deeper than <see cref="MaxNesting"/>.</exception>
    public static void Validate(AttributeValueType type, ReadOnlySpan<byte> value, int depth = 0)
    {
        if (type is not (AttributeValueType.Array or AttributeValueType.KeyValueList))
        {
            return;
        }

        if (depth >= MaxNesting)
        {
            throw new OtlpFormatException($"attribute value nested deeper than {MaxNesting} levels");
        }

        if (type == AttributeValueType.KeyValueList)
        {
            var entries = new AttributeReader(value, 1);
            while (entries.MoveNext())
            {
                Validate(entries.ValueType, entries.Value, depth + 1);
            }

            return;
        }

        var reader = new ProtoReader(value);
        while (reader.TryReadTag(out var field, out var wire))
        {
            if (field != 1 || wire != WireType.LengthDelimited)
            {
                reader.Skip(wire);
                continue;
            }

            var element = new AttributeReader(default, 0);
            element.ReadAnyValue(reader.ReadLengthDelimited());
            Validate(element.ValueType, element.Value, depth + 1);
        }
    }

    /// <summary>
    /// True when every key and string value of the attributes, nested ones included, is valid UTF-8 without
    /// NUL (<see cref="OtlpPointRules.IsCleanText"/>): label text that a replacement character or a NUL would
    /// silently change or split. Bytes values are not text and are not looked at. Allocates nothing; expects
    /// a list that passed <see cref="Validate"/> (nesting deeper than <see cref="MaxNesting"/> is not clean).
    /// </summary>
    public static bool HasCleanText(ReadOnlySpan<byte> message, int fieldNumber, int depth = 0)
    {
        var reader = new AttributeReader(message, fieldNumber);
        while (reader.MoveNext())
        {
            if (!OtlpPointRules.IsCleanText(reader.Key) || !IsCleanValue(reader.ValueType, reader.Value, depth))
            {
                return false;
            }
        }

        return true;
    }

    internal static bool IsCleanValue(AttributeValueType type, ReadOnlySpan<byte> value, int depth)
    {
        switch (type)
        {
            case AttributeValueType.String:
                return OtlpPointRules.IsCleanText(value);
            case AttributeValueType.KeyValueList:
                return depth < MaxNesting && HasCleanText(value, 1, depth + 1);
            case AttributeValueType.Array:
                if (depth >= MaxNesting)
                {
                    return false;
                }

                var reader = new ProtoReader(value);
                while (reader.TryReadTag(out var field, out var wire))
                {
                    if (field != 1 || wire != WireType.LengthDelimited)
                    {
                        reader.Skip(wire);
                        continue;
                    }

                    var element = new AttributeReader(default, 0);
                    element.ReadAnyValue(reader.ReadLengthDelimited());
                    if (!IsCleanValue(element.ValueType, element.Value, depth + 1))
                    {
                        return false;
                    }
                }

                return true;
            default:
                return true;
        }
    }

    /// <summary>
    /// The text form of a value, as Vigil shows it in labels: strings as they are, ints and doubles in
    /// invariant culture, bools as true/false, bytes as base64, arrays and lists as JSON.
    /// Allocates: call it only when a series is seen for the first time.
    /// </summary>
    public static string FormatValue(AttributeValueType type, ReadOnlySpan<byte> value)
    {
        switch (type)
        {
            case AttributeValueType.String:
                return Encoding.UTF8.GetString(value);
            case AttributeValueType.Bool:
                return new ProtoReader(value).ReadVarint() != 0 ? "true" : "false";
            case AttributeValueType.Int:
                return ((long)new ProtoReader(value).ReadVarint()).ToString(CultureInfo.InvariantCulture);
            case AttributeValueType.Double:
                return BitConverter.UInt64BitsToDouble(BinaryPrimitives.ReadUInt64LittleEndian(value)).ToString("R", CultureInfo.InvariantCulture);
            case AttributeValueType.Bytes:
                return Convert.ToBase64String(value);
            case AttributeValueType.Array:
            case AttributeValueType.KeyValueList:
                var builder = new StringBuilder();
                AppendJson(builder, type, value);
                return builder.ToString();
            default:
                return string.Empty;
        }
    }

    private static void AppendJson(StringBuilder builder, AttributeValueType type, ReadOnlySpan<byte> value)
    {
        switch (type)
        {
            case AttributeValueType.Array:
            {
                builder.Append('[');
                var reader = new ProtoReader(value);
                var first = true;
                while (reader.TryReadTag(out var field, out var wire))
                {
                    if (field != 1 || wire != WireType.LengthDelimited)
                    {
                        reader.Skip(wire);
                        continue;
                    }

                    if (!first)
                    {
                        builder.Append(',');
                    }

                    first = false;
                    var element = new AttributeReader(default, 0);
                    element.ReadAnyValue(reader.ReadLengthDelimited());
                    AppendJson(builder, element.ValueType, element.Value);
                }

                builder.Append(']');
                break;
            }

            case AttributeValueType.KeyValueList:
            {
                builder.Append('{');
                var entries = new AttributeReader(value, 1);
                var first = true;
                while (entries.MoveNext())
                {
                    if (!first)
                    {
                        builder.Append(',');
                    }

                    first = false;
                    builder.Append(System.Text.Json.JsonSerializer.Serialize(Encoding.UTF8.GetString(entries.Key))).Append(':');
                    AppendJson(builder, entries.ValueType, entries.Value);
                }

                builder.Append('}');
                break;
            }

            case AttributeValueType.String:
            case AttributeValueType.Bytes:
                builder.Append(System.Text.Json.JsonSerializer.Serialize(FormatValue(type, value)));
                break;
            case AttributeValueType.Empty:
                builder.Append("null");
                break;
            default:
                builder.Append(FormatValue(type, value));
                break;
        }
    }
}
