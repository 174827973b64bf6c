using System.Text;

namespace Vigil.Tests.Shared;

/// <summary>
/// OTLP <c>AnyValue</c>s nested as deep as a test wants, in protobuf and in OTLP/JSON, built without recursion
/// (Google.Protobuf's own encoder recurses per level and would exhaust the test's stack first).
/// </summary>
public static class DeepAnyValue
{
    /// <summary>How one level wraps the next: in an <c>array_value</c>, a <c>kvlist_value</c>, or alternating.</summary>
    public enum Shape
    {
        Array,
        KeyValueList,
        Alternating,
    }

    // AnyValue.array_value = 5, AnyValue.kvlist_value = 6, ArrayValue.values = 1, KeyValueList.values = 1,
    // KeyValue.key = 1, KeyValue.value = 2, AnyValue.int_value = 3 (common/v1/common.proto).
    private const int ArrayValueField = 5;
    private const int KvlistValueField = 6;
    private const int ValuesField = 1;
    private const int KeyField = 1;
    private const int ValueField = 2;
    private const byte IntValueTag = (3 << 3) | 0;

    private static bool IsArray(Shape shape, int level) => shape == Shape.Array || (shape == Shape.Alternating && level % 2 == 0);

    /// <summary>The encoded AnyValue: <paramref name="depth"/> levels around <c>int_value: 1</c>.</summary>
    public static byte[] Protobuf(int depth, Shape shape)
    {
        // Written back to front, so each level's length is known when its header is written.
        var buffer = new byte[(depth * 16) + 8];
        var start = buffer.Length;
        Prepend([IntValueTag, 1]);
        for (var level = 0; level < depth; level++)
        {
            if (IsArray(shape, level))
            {
                PrependHeader(ValuesField, buffer.Length - start);
                PrependHeader(ArrayValueField, buffer.Length - start);
            }
            else
            {
                PrependHeader(ValueField, buffer.Length - start);
                Prepend([(KeyField << 3) | 2, 1, (byte)'k']);
                PrependHeader(ValuesField, buffer.Length - start);
                PrependHeader(KvlistValueField, buffer.Length - start);
            }
        }

        return buffer[start..];

        void PrependHeader(int field, int length)
        {
            Span<byte> varint = stackalloc byte[5];
            var n = 0;
            var value = (uint)length;
            do
            {
                varint[n++] = (byte)((value & 0x7Fu) | (value > 0x7Fu ? 0x80u : 0u));
                value >>= 7;
            }
            while (value != 0);

            Prepend(varint[..n]);
            Prepend([(byte)((field << 3) | 2)]);
        }

        void Prepend(ReadOnlySpan<byte> bytes)
        {
            start -= bytes.Length;
            bytes.CopyTo(buffer.AsSpan(start));
        }
    }

    /// <summary>The same value in OTLP/JSON.</summary>
    public static string Json(int depth, Shape shape)
    {
        var json = new StringBuilder(depth * 40);
        for (var level = depth - 1; level >= 0; level--)
        {
            json.Append(IsArray(shape, level) ? "{\"arrayValue\":{\"values\":[" : "{\"kvlistValue\":{\"values\":[{\"key\":\"k\",\"value\":");
        }

        json.Append("{\"intValue\":\"1\"}");
        for (var level = 0; level < depth; level++)
        {
            json.Append(IsArray(shape, level) ? "]}}" : "}]}}");
        }

        return json.ToString();
    }

    /// <summary>A request with one gauge point whose attribute <c>deep</c> is <paramref name="anyValueJson"/>.</summary>
    public static string JsonRequest(string anyValueJson) =>
        "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"g\",\"gauge\":{\"dataPoints\":[{\"timeUnixNano\":\"1750000010000000000\",\"asInt\":\"1\","
        + "\"attributes\":[{\"key\":\"deep\",\"value\":" + anyValueJson + "}]}]}}]}]}]}";
}
