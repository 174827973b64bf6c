using System.Globalization;

namespace Vigil.Rules;

/// <summary>
/// Input values of rule unit tests, promtool style: space-separated terms, each a number, <c>_</c> (no sample),
/// <c>a+bxn</c> / <c>a-bxn</c> (a, then n more values stepping by b: n+1 values), <c>axn</c> (a repeated n+1
/// times) or <c>_xn</c> (n missing samples).
/// </summary>
public static class SeriesNotation
{
    public static IReadOnlyList<double?>? TryParse(string text, out string? error)
    {
        error = null;
        var values = new List<double?>();
        foreach (var term in text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
        {
            if (term == "_")
            {
                values.Add(null);
                continue;
            }

            var x = term.LastIndexOf('x');
            if (x < 0)
            {
                if (!TryNumber(term, out var single))
                {
                    error = $"'{term}' is not a number, '_' or 'a+bxn'";
                    return null;
                }

                values.Add(single);
                continue;
            }

            if (!int.TryParse(term[(x + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var count))
            {
                error = $"'{term}': the count after 'x' must be a whole number";
                return null;
            }

            var head = term[..x];
            if (head == "_")
            {
                values.AddRange(Enumerable.Repeat<double?>(null, count));
                continue;
            }

            // The step's sign is the last '+' or '-' that is not the number's own sign or exponent sign.
            var split = -1;
            for (var i = head.Length - 1; i > 0; i--)
            {
                if (head[i] is '+' or '-' && head[i - 1] is not ('e' or 'E'))
                {
                    split = i;
                    break;
                }
            }

            double start, step = 0;
            if (split < 0 ? !TryNumber(head, out start) : !TryNumber(head[..split], out start) || !TryNumber(head[(split + 1)..], out step))
            {
                error = $"'{term}' is not 'a+bxn', 'a-bxn' or 'axn'";
                return null;
            }

            if (split >= 0 && head[split] == '-')
            {
                step = -step;
            }

            for (var i = 0; i <= count; i++)
            {
                values.Add(start + (i * step));
            }
        }

        return values;
    }

    private static bool TryNumber(string s, out double value) =>
        double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value);
}
