set terminal pngcairo size 1200,450
set output 'runs/listops-mra-published-full/curves.png'
set multiplot layout 1,2 title 'runs/listops-mra-published-full'
set xlabel 'step'
set grid
set key top right
set ylabel 'loss'
set logscale y
plot 'runs/listops-mra-published-full/curves.dat' index 0 using 1:2 with lines title 'train', '' index 1 using 1:2 with linespoints title 'validation'
unset logscale y
set ylabel 'accuracy'
set key bottom right
plot 'runs/listops-mra-published-full/curves.dat' index 0 using 1:3 with lines title 'train', '' index 1 using 1:3 with linespoints title 'validation'
unset multiplot
