using System.Buffers;
using System.Text;
using System.Text.Unicode;
using Google.Protobuf;
using Vigil.Otlp.Proto.Collector;
using Vigil.Otlp.Wire;

namespace Vigil.Otlp.Json;

/// <summary>
/// OTLP/JSON → protobuf bytes, so JSON requests take the same decode path as binary ones.
/// JSON is the convenience encoding (curl, browsers); its cost is not on the hot path.
/// </summary>
public static class OtlpJsonTranscoder
{
    // OTLP/JSON: lowerCamelCase names, int64 as strings or numbers, enums as integers, and receivers
    // must ignore unknown fields (OTLP spec, "JSON Protobuf Encoding").
    private static readonly JsonParser Parser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));

    private static ReadOnlySpan<byte> Utf8Bom => [0xEF, 0xBB, 0xBF];

    /// <exception cref="OtlpFormatException">The body is not OTLP/JSON; the message says what the parser saw.</exception>
    public static byte[] ToProtobuf(ReadOnlySpan<byte> json)
    {
        // A byte order mark is not JSON, but RFC 8259 (§8.1) lets a parser ignore one, and some tools
        // (PowerShell, Windows editors) write it.
        var skipped = json.StartsWith(Utf8Bom) ? Utf8Bom.Length : 0;
        json = json[skipped..];

        // JSON text is UTF-8 (RFC 8259 §8.1); decoding invalid bytes to U+FFFD would change names and labels unseen.
        if (!Utf8.IsValid(json))
        {
            throw new OtlpFormatException($"invalid OTLP/JSON: the body is not valid UTF-8 (byte {skipped + FirstInvalidByte(json)})");
        }

        try
        {
            var request = Parser.Parse<ExportMetricsServiceRequest>(Encoding.UTF8.GetString(json));
            return request.ToByteArray();
        }
        catch (InvalidJsonException e)
        {
            throw new OtlpFormatException($"invalid OTLP/JSON: {e.Message}");
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new OtlpFormatException($"invalid OTLP/JSON: {e.Message}");
        }
        catch (FormatException e)
        {
            throw new OtlpFormatException($"invalid OTLP/JSON: {e.Message}");
        }
    }

    /// <summary>Where the first invalid UTF-8 sequence starts (only called once the text is known to hold one).</summary>
    private static int FirstInvalidByte(ReadOnlySpan<byte> text)
    {
        var at = 0;
        while (at < text.Length && Rune.DecodeFromUtf8(text[at..], out _, out var consumed) == OperationStatus.Done)
        {
            at += consumed;
        }

        return at;
    }
}
