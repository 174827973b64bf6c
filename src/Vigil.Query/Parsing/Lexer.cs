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

/// <summary>Splits a PromQL expression into tokens; positions are 1-based characters for error messages.</summary>
internal static class Lexer
{
    private static readonly string[] Operators = ["==", "!=", ">=", "<=", "=~", "!~", "+", "-", "*", "/", "%", "^", ">", "<", "="];

    public static List<Token> Tokenize(string text)
    {
        var tokens = new List<Token>();
        var i = 0;
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
                tokens.Add(new Token(TokenKind.End, string.Empty, i + 1));
                return tokens;
            }

            var c = text[i];
            var start = i;
            switch (c)
            {
                case '(':
                    tokens.Add(new Token(TokenKind.LeftParen, "(", ++i));
                    continue;
                case ')':
                    tokens.Add(new Token(TokenKind.RightParen, ")", ++i));
                    continue;
                case '{':
                    tokens.Add(new Token(TokenKind.LeftBrace, "{", ++i));
                    continue;
                case '}':
                    tokens.Add(new Token(TokenKind.RightBrace, "}", ++i));
                    continue;
                case '[':
                    tokens.Add(new Token(TokenKind.LeftBracket, "[", ++i));
                    continue;
                case ']':
                    tokens.Add(new Token(TokenKind.RightBracket, "]", ++i));
                    continue;
                case ',':
                    tokens.Add(new Token(TokenKind.Comma, ",", ++i));
                    continue;
                case ':':
                    tokens.Add(new Token(TokenKind.Colon, ":", ++i));
                    continue;
                case '@':
                    tokens.Add(new Token(TokenKind.At, "@", ++i));
                    continue;
                case '"' or '\'' or '`':
                    tokens.Add(new Token(TokenKind.String, ReadString(text, ref i), start + 1));
                    continue;
            }

            if (char.IsAsciiDigit(c) || (c == '.' && i + 1 < text.Length && char.IsAsciiDigit(text[i + 1])))
            {
                tokens.Add(ReadNumberOrDuration(text, ref i));
                continue;
            }

            if (char.IsAsciiLetter(c) || c == '_')
            {
                while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] is '_' or ':'))
                {
                    i++;
                }

                tokens.Add(new Token(TokenKind.Identifier, text[start..i], start + 1));
                continue;
            }

            var op = Array.Find(Operators, o => string.CompareOrdinal(text, i, o, 0, o.Length) == 0);
            if (op is null)
            {
                throw new PromQLException($"parse error at char {start + 1}: unexpected character '{c}'");
            }

            i += op.Length;
            tokens.Add(new Token(TokenKind.Operator, op, start + 1));
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

            // TryParse: "0x" alone or more than 16 hex digits is a bad number, not a FormatException (found by fuzzing).
            if (!ulong.TryParse(text.AsSpan(start + 2, i - start - 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var hex))
            {
                throw new PromQLException($"parse error at char {start + 1}: bad hexadecimal number \"{text[start..i]}\"");
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
