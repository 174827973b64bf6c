using System.Globalization;
using System.Text;

namespace Vigil.Query.Parsing;

internal enum TokenKind
{
    End,
    Identifier,
    Number,
    Duration,
    String,
    Operator,
    LeftParen,
    RightParen,
    LeftBrace,
    RightBrace,
    LeftBracket,
    RightBracket,
    Comma,
    Colon,
    At,
}

internal readonly record struct Token(TokenKind Kind, string Text, int Position, double Number = 0, TimeSpan Duration = default)
{
    public string Describe() => Kind switch
    {
        TokenKind.End => "end of input",
        TokenKind.String => $"string \"{Text}\"",
        _ => $"\"{Text}\"",
    };
}

/// <summary>
/// Splits a PromQL expression into tokens, one at a time as the parser asks: a query refused early (too deep, bad
/// syntax) costs only the tokens read up to the refusal, however long it is. Positions are 1-based characters.
/// </summary>
internal sealed class Lexer(string text)
{
    private static readonly string[] Operators = ["==", "!=", ">=", "<=", "=~", "!~", "+", "-", "*", "/", "%", "^", ">", "<", "="];

    private int _next;

    /// <summary>The next token; <see cref="TokenKind.End"/> at the end of the text, and again on every later call.</summary>
    public Token Next()
    {
        var i = _next;
        var token = Read(ref i);
        _next = i;
        return token;
    }

    private Token Read(ref int i)
    {
        while (true)
        {
            while (i < text.Length && char.IsWhiteSpace(text[i]))
            {
                i++;
            }

            if (i < text.Length && text[i] == '#')
            {
                while (i < text.Length && text[i] != '\n')
                {
                    i++;
                }

                continue;
            }

            if (i >= text.Length)
            {
                return new Token(TokenKind.End, string.Empty, i + 1);
            }

            var c = text[i];
            var start = i;
            switch (c)
            {
                case '(':
                    return new Token(TokenKind.LeftParen, "(", ++i);
                case ')':
                    return new Token(TokenKind.RightParen, ")", ++i);
                case '{':
                    return new Token(TokenKind.LeftBrace, "{", ++i);
                case '}':
                    return new Token(TokenKind.RightBrace, "}", ++i);
                case '[':
                    return new Token(TokenKind.LeftBracket, "[", ++i);
                case ']':
                    return new Token(TokenKind.RightBracket, "]", ++i);
                case ',':
                    return new Token(TokenKind.Comma, ",", ++i);
                case ':':
                    return new Token(TokenKind.Colon, ":", ++i);
                case '@':
                    return new Token(TokenKind.At, "@", ++i);
                case '"' or '\'' or '`':
                    return new Token(TokenKind.String, ReadString(text, ref i), start + 1);
            }

            if (char.IsAsciiDigit(c) || (c == '.' && i + 1 < text.Length && char.IsAsciiDigit(text[i + 1])))
            {
                return ReadNumberOrDuration(text, ref i);
            }

            if (char.IsAsciiLetter(c) || c == '_')
            {
                while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] is '_' or ':'))
                {
                    i++;
                }

                return new Token(TokenKind.Identifier, text[start..i], start + 1);
            }

            string? op = null;
            foreach (var candidate in Operators)
            {
                if (string.CompareOrdinal(text, i, candidate, 0, candidate.Length) == 0)
                {
                    op = candidate;
                    break;
                }
            }

            if (op is null)
            {
                throw new PromQLException($"parse error at char {start + 1}: unexpected character '{c}'");
            }

            i += op.Length;
            return new Token(TokenKind.Operator, op, start + 1);
        }
    }

    private static Token ReadNumberOrDuration(string text, ref int i)
    {
        var start = i;
        if (text[i] == '0' && i + 1 < text.Length && text[i + 1] is 'x' or 'X')
        {
            i += 2;
            while (i < text.Length && char.IsAsciiHexDigit(text[i]))
            {
                i++;
            }

            // As Prometheus: a signed 64-bit integer, so 0x and 0x8000000000000000 are errors, not a crash.
            if (!long.TryParse(text.AsSpan(start + 2, i - start - 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var hex) || hex < 0)
            {
                throw new PromQLException($"parse error at char {start + 1}: bad number \"{text[start..i]}\"; hexadecimal numbers go from 0x0 to 0x7fffffffffffffff");
            }

            return new Token(TokenKind.Number, text[start..i], start + 1, hex);
        }

        while (i < text.Length && char.IsAsciiDigit(text[i]))
        {
            i++;
        }

        // 5m, 1h30m, 500ms: digits directly followed by a unit letter.
        if (i < text.Length && text[i] is 's' or 'm' or 'h' or 'd' or 'w' or 'y')
        {
            while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i])))
            {
                i++;
            }

            var durationText = text[start..i];
            if (!Vigil.Storage.DurationFormat.TryParse(durationText, out var duration) || durationText.Contains('y', StringComparison.Ordinal))
            {
                throw new PromQLException($"parse error at char {start + 1}: bad duration \"{durationText}\"; write e.g. 30s, 5m, 1h30m, 7d");
            }

            return new Token(TokenKind.Duration, durationText, start + 1, Duration: duration);
        }

        if (i < text.Length && text[i] == '.')
        {
            i++;
            while (i < text.Length && char.IsAsciiDigit(text[i]))
            {
                i++;
            }
        }

        if (i < text.Length && text[i] is 'e' or 'E')
        {
            var save = i;
            i++;
            if (i < text.Length && text[i] is '+' or '-')
            {
                i++;
            }

            if (i < text.Length && char.IsAsciiDigit(text[i]))
            {
                while (i < text.Length && char.IsAsciiDigit(text[i]))
                {
                    i++;
                }
            }
            else
            {
                i = save;
            }
        }

        var numberText = text[start..i];
        return new Token(TokenKind.Number, numberText, start + 1, double.Parse(numberText, NumberStyles.Float, CultureInfo.InvariantCulture));
    }

    private static string ReadString(string text, ref int i)
    {
        var quote = text[i];
        var start = i;
        i++;
        var builder = new StringBuilder();
        while (i < text.Length && text[i] != quote)
        {
            var c = text[i++];
            if (c != '\\' || quote == '`')
            {
                builder.Append(c);
                continue;
            }

            if (i >= text.Length)
            {
                break;
            }

            var escaped = text[i++];
            builder.Append(escaped switch
            {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                '\\' => '\\',
                '"' => '"',
                '\'' => '\'',
                _ => throw new PromQLException($"parse error at char {i - 1}: unknown escape sequence '\\{escaped}' in string"),
            });
        }

        if (i >= text.Length)
        {
            throw new PromQLException($"parse error at char {start + 1}: unterminated string");
        }

        i++;
        return builder.ToString();
    }
}
